"""The files that go to the Hub: an allowlist of the run's files, the evaluation's recorded files, the card.

- From the run directory, only the names in :data:`RUN_FILES`: the adapter, tokenizer files, the
  Trainer's records and loss plots. Checkpoint folders and pickles (``training_args.bin``) stay out
  unless ``include_checkpoints`` is set.
- From the eval directory, ``eval_results.json``, ``eval_metrics.txt`` and exactly the files that
  ``dynahate eval`` recorded under each split's ``files`` (its predictions file and plots), never
  files found by a name pattern: a ``*_predictions.jsonl`` written by ``dynahate predict
  --include-text`` holds posts and is not staged.
- The two prompt files, from the package.
- Files publish writes itself: the card; ``chat_template.jinja``, the ``dynahate`` template's Jinja
  (:func:`chat_template_text`: with the staged tokenizer, ``apply_chat_template`` on the post alone gives
  the training prompt; the run's own file is LLaMA-Factory's ``llama3`` template, which lacks the
  system prompt and instruction; a ``tokenizer_config.json`` holding a ``chat_template`` gets it too);
  ``tokenizer_config.json`` without what only held on this machine (``"local_files_only": true``,
  ``"is_local": true``, a ``cache_dir``: :data:`LOCAL_TOKENIZER_KEYS`);
  ``eval_results.json`` and, with ``--compare-to``, the comparison
  (``comparison.json``: numbers, split, round and test names, adapter hashes; no post), both with
  every path of this machine made relative (``publish/portable.py``); and with ``--base-model``,
  ``adapter_config.json`` naming that Hub model.

Each staged file must be a regular file whose real path is inside its folder (the run directory, or
the eval directory): a link out of it, a folder or a device under an allowlisted name is refused,
naming it. Links are never followed out of the run, in checkpoint folders either. A file publish may
not read is refused as such (permission denied). Staged files get the mode of a new file under the
umask (``0644`` under the usual ``022``), whatever the run's file has (safetensors writes ``0600``).

The stage folder itself:

Staging replaces a folder as a whole, so the folder must be one publish may delete: missing, empty,
or one publish made itself (it holds :data:`MARKER`, written into every staged folder and never
uploaded). Whatever the marker says, these are refused (real paths compared, so a link to one of
them is that folder): the run directory, a folder inside it other than its default stage folder
``RUN_DIR/hub``, and the data, eval and current directories or any folder that contains one of them.
A folder that cannot be made or written (under a file, under ``/proc``) is refused with
:func:`dynahate.core.output_paths.check_output_dir`, before anything is read.

The new folder is built, and the old one moved aside, inside one uniquely named hidden sibling that
this module creates and always removes (error, Ctrl-C, or SIGTERM, which ``dynahate``'s CLI turns
into an exception); a failure after the old folder was moved aside puts it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from dynahate.core.atomic import signals_held, temporary_folder
from dynahate.core.describe import first_line
from dynahate.core.errors import DynahateError
from dynahate.core.output_paths import check_output_dir
from dynahate.plugin import prompts
from dynahate.publish.checks import permission_denied

RUN_FILES = (
    "adapter_model.safetensors", "adapter_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "generation_config.json",
    "all_results.json", "train_results.json", "trainer_eval_results.json", "trainer_log.jsonl",
    "trainer_state.json", "training_loss.png", "training_eval_loss.png",
)
EVAL_RECORDS = ("eval_results.json", "eval_metrics.txt")
CARD = "README.md"
CHAT_TEMPLATE = "chat_template.jinja"
TOKENIZER_CONFIG = "tokenizer_config.json"
# tokenizer_config.json members that describe how the run's machine loaded the tokenizer, not the tokenizer
LOCAL_TOKENIZER_KEYS = ("local_files_only", "is_local", "cache_dir", "_commit_hash")
MARKER = ".dynahate-publish-stage"
DEFAULT_STAGE = "hub"


def contained_file(path: Path, root: Path, what: str) -> Path:
    """``path`` if it is a regular file whose real path is inside ``root``; else one error naming it."""
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except PermissionError:
        raise permission_denied(path) from None
    except (OSError, RuntimeError):
        raise DynahateError(f"{path}: a broken link or unreadable; publish stages only regular files inside "
                            f"the {what} {root}") from None
    if path.is_symlink() and not real.is_relative_to(root.resolve()):
        raise DynahateError(f"{path}: a link to a file outside the {what} {root}; publish stages only regular files "
                            "inside it (copy the file in, or remove the link)")
    if not stat.S_ISREG(mode):
        raise DynahateError(f"{path}: not a regular file; publish stages only regular files inside the {what} {root}")
    if not real.is_relative_to(root.resolve()):
        raise DynahateError(f"{path}: its real path is outside the {what} {root}; publish stages only files inside it")
    try:
        with open(real, "rb"):
            pass
    except PermissionError:
        raise permission_denied(path) from None
    return path


def _checkpoint_files(folder: Path, run_dir: Path) -> dict[str, Path]:
    if folder.is_symlink():
        raise DynahateError(f"{folder}: a link to a folder; publish does not follow links (copy it in, or remove it)")
    chosen = {}
    for top, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs):
            if (Path(top) / name).is_symlink():
                raise DynahateError(f"{Path(top) / name}: a link to a folder; publish does not follow links "
                                    "(copy it in, or remove it)")
        for name in sorted(names):
            path = contained_file(Path(top) / name, run_dir, "run directory")
            chosen[str(path.relative_to(run_dir))] = path
    return chosen


def select_run_files(run_dir: Path, include_checkpoints: bool = False) -> dict[str, Path]:
    """Staged name -> source path, for the run directory's files (checked: regular, inside the run)."""
    chosen: dict[str, Path] = {}
    for path in sorted(run_dir.iterdir()):
        if path.name in RUN_FILES:
            chosen[path.name] = contained_file(path, run_dir, "run directory")
        elif include_checkpoints and path.name.startswith("checkpoint-") and (path.is_dir() or path.is_symlink()):
            chosen.update(_checkpoint_files(path, run_dir))
    if include_checkpoints and (run_dir / "training_args.bin").exists():
        chosen["training_args.bin"] = contained_file(run_dir / "training_args.bin", run_dir, "run directory")
    return chosen


def _plain_name(name: Any, source: Path, split: str) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DynahateError(f"{source}: split {split!r} lists {name!r} under 'files', which is not a file name "
                            "in the eval directory; re-run `dynahate eval`")
    return name


def select_eval_files(eval_dir: Path,
                      eval_results: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Path], set[str]]:
    """Staged name -> source path for what ``dynahate eval`` recorded, and the names of its JSONL files."""
    source = eval_dir / EVAL_RECORDS[0]
    names: list[str] = list(EVAL_RECORDS)
    for split, results in eval_results.items():
        recorded = results.get("files")
        if not isinstance(recorded, list):
            raise DynahateError(f"{source}: split {split!r} does not record the files `dynahate eval` wrote for it "
                                "(written by an older version); re-run `dynahate eval` so publish knows what to stage")
        names += [_plain_name(name, source, split) for name in recorded]
    chosen = {}
    for name in names:
        path = eval_dir / name
        if not path.exists() and not path.is_symlink():
            raise DynahateError(f"{path}: missing, but {source.name} records it; re-run `dynahate eval`")
        chosen[name] = contained_file(path, eval_dir, "eval directory")
    return chosen, {name for name in chosen if name.endswith(".jsonl")}


def prompt_files() -> dict[str, Path]:
    # the installed package's files: Paths (importlib.resources types them as Traversable)
    return {name: cast(Path, prompts.prompt_file_path(name))
            for name in (prompts.INSTRUCTION_FILE, prompts.SYSTEM_FILE)}


def chat_template_text(run_dir: Path) -> str | None:
    """The ``dynahate`` template's Jinja for the run's tokenizer (LLaMA-Factory renders it), staged as
    ``chat_template.jinja``; None when the run has no tokenizer files (then no template is staged)."""
    from transformers import AutoTokenizer

    from dynahate.plugin.lf_template import dynahate_chat_template

    if not (run_dir / TOKENIZER_CONFIG).is_file():
        return None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(run_dir))
    except PermissionError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise DynahateError(f"{run_dir}: transformers cannot load the run's tokenizer, for which the staged "
                            f"chat template is written: {first_line(exc)}") from None
    return dynahate_chat_template(tokenizer)


def tokenizer_config_text(run_dir: Path, template: str) -> str | None:
    """The run's ``tokenizer_config.json`` as staged: its ``chat_template`` member (where transformers before the
    separate ``chat_template.jinja`` file kept the template) set to ``template``, and the members that only held
    for the machine the run was trained on (:data:`LOCAL_TOKENIZER_KEYS`, e.g. ``"local_files_only": true``, under
    which nobody could download the tokenizer) left out; None when it has neither (then it is staged as it is).
    With only a template to set, the rest of the text is kept as it was; with members to leave out, it is written
    as transformers writes it (indent 2)."""
    from dynahate.core.json_edit import JsonShapeError, parse_members, set_members

    path = run_dir / TOKENIZER_CONFIG
    text = path.read_text(encoding="utf-8")
    try:
        members, _, _ = parse_members(text)
    except JsonShapeError as exc:
        raise DynahateError(f"{path}: not a JSON object ({exc})") from None
    keys = {member.key for member in members}
    if keys.isdisjoint(LOCAL_TOKENIZER_KEYS):
        return set_members(text, {"chat_template": template}) if "chat_template" in keys else None
    config = {key: value for key, value in json.loads(text).items() if key not in LOCAL_TOKENIZER_KEYS}
    if "chat_template" in config:
        config["chat_template"] = template
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def merge_sources(*groups: dict[str, Path]) -> dict[str, Path]:
    """One name -> path mapping; two different files under one staged name is an error."""
    merged: dict[str, Path] = {}
    for group in groups:
        for name, path in group.items():
            if name in merged and merged[name].resolve() != path.resolve():
                raise DynahateError(f"{name}: both {merged[name]} and {path} would be staged under this name")
            merged[name] = path
    return merged


def stage(files: dict[str, Path], card_text: str, stage_dir: Path,
          generated: dict[str, str] | None = None) -> dict[str, int]:
    """Copy ``files``, write the card and the ``generated`` texts (name -> text, e.g. ``comparison.json``) into
    ``stage_dir`` (checked, replaced as a whole); return name -> size."""
    generated = generated or {}
    taken = [name for name in generated if name in files or name == CARD]
    if taken:
        raise DynahateError(f"{taken[0]}: publish writes this file itself, but {files.get(taken[0], CARD)} would "
                            "be staged under the same name")

    def fill(folder: Path) -> None:
        for name, source in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        (folder / CARD).write_text(card_text, encoding="utf-8")
        for name, text in generated.items():
            (folder / name).write_text(text, encoding="utf-8")

    replace_folder(stage_dir, fill)
    sizes = {str(p.relative_to(stage_dir)): p.stat().st_size for p in sorted(stage_dir.rglob("*")) if p.is_file()}
    sizes.pop(MARKER, None)
    return sizes


def planned_sizes(files: dict[str, Path]) -> dict[str, int]:
    """Sizes of the files to stage (the card is added later), for the card's file table."""
    return {name: path.stat().st_size for name, path in files.items()}




def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG((folder / MARKER).lstat().st_mode)
    except OSError:
        return False


def check_stage_dir(stage_dir: Path, *, run_dir: Path, protected: dict[str, Path]) -> Path:
    """The real path publish may replace at ``stage_dir``; anything else is one :class:`DynahateError`.

    ``protected`` names folders (the data dir, the eval dir, the current directory) that must be
    neither the stage folder nor inside it.
    """
    real = Path(stage_dir).resolve()
    run_real = Path(run_dir).resolve()
    refuse = f"--stage-dir {stage_dir}"
    if _within(run_real, real):
        what = "is the run directory" if real == run_real else "contains the run directory"
        raise DynahateError(f"{refuse} {what} {run_dir}; staging replaces that folder as a whole. Pick a new folder")
    if _within(real, run_real) and real != run_real / DEFAULT_STAGE:
        raise DynahateError(f"{refuse} is inside the run directory {run_dir}; the only stage folder allowed there "
                            f"is {Path(run_dir) / DEFAULT_STAGE}. Pick a folder outside the run")
    for name, folder in protected.items():
        if _within(folder.resolve(), real):
            what = "is" if folder.resolve() == real else "contains"
            raise DynahateError(f"{refuse} {what} the {name} {folder}; staging replaces that folder as a whole. "
                                "Pick a new folder")
    if real.exists() or real.is_symlink():
        if not real.is_dir():
            raise DynahateError(f"{refuse}: {real} exists and is not a folder")
        if any(real.iterdir()) and not _is_marked(real):
            raise DynahateError(f"{refuse}: {real} is not empty and was not staged by dynahate publish (no {MARKER} "
                                "in it), so publish will not replace it. "
                                "Pick a new or empty folder (or empty this one yourself)")
    # under a file, under /proc: refused here, not by mkdir. An existing stage folder is replaced as a whole from
    # beside it, so its parent is what must take a new folder; the stage folder itself is left untouched until then
    target = Path(stage_dir)
    check_output_dir(target.parent if real.is_dir() else target, "--stage-dir")
    return real


def replace_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a new folder with ``fill(folder)`` plus the marker, then swap it in for ``target`` (checked first)."""
    with contextlib.ExitStack() as stack:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            work = stack.enter_context(temporary_folder(target.parent, f".{target.name}.publish-"))
        except PermissionError:
            raise permission_denied(target.parent, "needs to create folders in it") from None
        new, old = work / "new", work / "old"
        new.mkdir()
        fill(new)
        (new / MARKER).write_text(json.dumps({"staged_by": "dynahate publish", "note": "this folder is replaced "
                                              "as a whole by the next publish"}) + "\n", encoding="utf-8")
        with signals_held():  # the swap is not cut in half by Ctrl-C or SIGTERM
            moved_aside = target.exists()
            if moved_aside:
                target.rename(old)
            try:
                new.rename(target)
            except OSError:
                if moved_aside:
                    old.rename(target)
                raise
