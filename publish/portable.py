"""No path of this machine in what is staged: the base model named by its Hub id, every recorded path made relative.

The base model. ``adapter_config.json``'s ``base_model_name_or_path`` is a local path (a run trained
from a local copy of the base, as on a cluster without internet) when it is absolute, starts with
``./``, ``../`` or ``~``, names a folder that exists here, or is not a Hub repo id ``USER/NAME``.
Nobody else can load such an adapter, so ``publish`` refuses to upload it unless ``--base-model
REPO_ID`` names the Hub model it is a copy of; that id is then written into the staged
``adapter_config.json`` (the rest of its text unchanged) and the card; the run's own files are never
changed. ``--dry-run`` without it still stages, with a warning that the upload would be refused, and
``adapter_config.json`` naming the base as ``<local base model: FOLDER>`` (:func:`local_base_placeholder`),
never this machine's path. ``--base-model`` must itself be no local path: ``demo/tiny-model`` reads as a
repo id, but where it names a folder here transformers would load that folder; it is refused. A
run whose base is already a Hub id needs no ``--base-model``; one that names another model is
refused (the adapter was trained on the run's base, so the card must not name a different one).

Recorded paths. The staged ``eval_results.json`` and ``comparison.json`` are rewritten so that no
value is a path of this machine: each value under a ``path`` or ``results`` key (an evaluated
adapter's folder, HateCheck's file, the compared evaluations) and any other value that is an
absolute path becomes relative to the run directory (``.`` is the run itself) or to the eval
directory when it lies inside one, and else its last component (a folder or file name); the local
base model's path becomes the Hub id given by ``--base-model`` (else its folder name).

The Trainer's ``trainer_state.json`` likewise (:func:`staged_trainer_state`): its ``best_model_checkpoint``, a
path of the training machine (``OUTPUT_DIR/checkpoint-500``, absolute or relative to where training ran),
and any absolute path become relative to the run (``checkpoint-500``), else their last component. It is
staged as it is when it holds none; the run's own file is never changed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

from dynahate.core.errors import DynahateError

PATH_KEYS = frozenset({"path", "results", "best_model_checkpoint"})
TRAINER_STATE = "trainer_state.json"
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def local_base_reason(name: str) -> str | None:
    """Why ``base_model_name_or_path`` is a local path and not a Hub model id (None: it is a Hub id)."""
    from dynahate.inference.adapter_source import repo_id_problem

    if os.path.isabs(name) or _WINDOWS_ABSOLUTE.match(name):
        return "an absolute path"
    if name.startswith(("./", "../", "~", ".\\", "..\\")) or name in (".", ".."):
        return "a relative path"
    if os.path.isdir(name):
        return "a folder on this machine"
    if repo_id_problem(name):
        return "not a Hub repo id USER/NAME"
    return None


def published_base_model(run_base: str, given: str | None, config_path: Path, *, dry_run: bool) -> str | None:
    """The base model's Hub id for the staged ``adapter_config.json`` and the card.

    ``given`` is ``--base-model`` (already checked to be a repo id). Returns None only for a dry run of a
    run trained from a local base without ``--base-model`` (the caller warns); a real upload of one, or a
    ``--base-model`` other than the run's own Hub id, is one :class:`DynahateError`.
    """
    if given is not None and (local := local_base_reason(given)):  # e.g. demo/tiny-model, a folder here
        raise DynahateError(f"--base-model {given}: {local}, not only a Hub repo id (transformers would load that "
                            "folder, not the Hub model); pass the Hub id USER/NAME of the model the run's base is a "
                            "copy of, from a directory where no folder has that name")
    reason = local_base_reason(run_base)
    if reason is None:
        if given is not None and given != run_base:
            raise DynahateError(f"--base-model {given}: {config_path} already names the Hub model {run_base!r}, "
                                "which the adapter was trained on; --base-model is only for a run trained from a "
                                "local copy of the base (leave it out)")
        return run_base
    if given is None and not dry_run:
        raise DynahateError(f"{config_path}: base_model_name_or_path {run_base!r} is {reason}, so nobody else could "
                            "load the published adapter; pass --base-model REPO_ID naming the Hub model it is a copy "
                            "of (e.g. meta-llama/Llama-3.1-8B-Instruct); the run's files stay as they are")
    return given


def local_base_warning(run_base: str, config_path: Path) -> str:
    return (f"warning: {config_path}: base_model_name_or_path {run_base!r} is {local_base_reason(run_base)}; "
            f"staged as {local_base_placeholder(run_base)!r}, but an upload would be refused: pass --base-model "
            "REPO_ID naming the Hub model")


def local_base_placeholder(run_base: str) -> str:
    """What a dry run without ``--base-model`` stages as a local base's ``base_model_name_or_path``: its folder's
    name in a form no loader takes for a Hub id or a path (an upload is refused until ``--base-model`` names one)."""
    return f"<local base model: {portable_path(run_base, [])}>"


def staged_adapter_config(text: str, base_model: str, config_path: Path) -> str:
    """``adapter_config.json``'s text with ``base_model_name_or_path`` set to ``base_model``, the rest as it was."""
    from dynahate.core.json_edit import JsonShapeError, set_members

    try:
        return set_members(text, {"base_model_name_or_path": base_model})
    except JsonShapeError as exc:
        raise DynahateError(f"{config_path}: not a JSON object ({exc})") from None


def _looks_absolute(text: str) -> bool:
    return text.startswith(("/", "~/")) or text == "~" or bool(_WINDOWS_ABSOLUTE.match(text))


def portable_path(text: str, anchors: Sequence[Path]) -> str:
    """``text`` (a path) relative to the first of ``anchors`` (resolved folders) holding it, else its last part."""
    if _WINDOWS_ABSOLUTE.match(text):
        return PureWindowsPath(text).name or "."
    real = Path(os.path.realpath(os.path.expanduser(text)))
    for anchor in anchors:
        if real.is_relative_to(anchor):
            return real.relative_to(anchor).as_posix()
    return real.name or "."


def portable_json(value: Any, *, anchors: Sequence[Path], replace: dict[str, str]) -> Any:
    """A copy of a JSON value with no path of this machine: see the module's docstring. ``replace`` maps exact
    strings (the local base model's path) to what is staged in their place."""

    def walk(item: Any, key: str | None) -> Any:
        if isinstance(item, dict):
            return {k: walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, None) for v in item]
        if isinstance(item, str):
            if item in replace:
                return replace[item]
            if (key in PATH_KEYS and item) or _looks_absolute(item):
                return portable_path(item, anchors)
        return item

    return walk(value, None)


def portable_json_text(value: Any, *, anchors: Sequence[Path], replace: dict[str, str]) -> str:
    """:func:`portable_json` written as ``dynahate eval`` and ``compare`` write their files (indent 2)."""
    return json.dumps(portable_json(value, anchors=anchors, replace=replace), indent=2, allow_nan=False) + "\n"


def staged_trainer_state(state: Any, run_dir: Path, *, replace: dict[str, str]) -> str | None:
    """``trainer_state.json`` (``state``, as the run record read it) with its paths relative to the run, written
    as transformers writes it (indent 2, the keys in their order); None when it holds no path of this machine
    (it is then staged as it is)."""
    anchors = [Path(run_dir).resolve()]
    if portable_json(state, anchors=anchors, replace=replace) == state:
        return None
    return portable_json_text(state, anchors=anchors, replace=replace)
