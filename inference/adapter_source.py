"""Where ``--adapter`` points: a local run directory, or a Hub model repo ``USER/NAME[@REVISION]``.

:func:`parse_adapter_spec` decides without any network: an existing path is a local run (it wins
over a repo id of the same spelling); otherwise ``USER/NAME`` with an optional ``@REVISION`` (a
branch, tag or 40-hex commit sha) is a Hub repo, checked for syntax here; anything else is a
local path that the run-directory checks then report. :func:`fetch_adapter` returns the folder to
load from and the provenance: for a Hub repo it downloads with ``huggingface_hub.snapshot_download``
into the Hugging Face cache only :data:`HUB_FILES` (the adapter, the tokenizer files and the recorded
``eval_results.json`` that ``--threshold`` / ``--calibrated`` read; never
base-model weights, never anything else), and records the repo id, the revision asked and the
commit sha it resolved to.

huggingface_hub reads ``HF_TOKEN`` (else the token of ``hf auth login``), ``HF_ENDPOINT``,
``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` (the cache only). Each of its failures
(missing repo, gated or private repo, missing revision, not cached while offline, no network) is
one :class:`DynahateError` saying what to do; the token is never printed.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dynahate.core.describe import first_line
from dynahate.core.errors import DynahateError
from dynahate.inference.model_loading import ADAPTER_FILES, adapter_provenance

ADAPTER_METAVAR = "RUN_DIR|USER/NAME[@REV]"
HUB_FILES = (*ADAPTER_FILES, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
             "chat_template.jinja", "eval_results.json")
"""The only files fetched from a Hub repo (those of them it has)."""

ADAPTER_HELP = ("the adapter: a LLaMA-Factory LoRA training run (RUN_DIR), or a Hub model repo USER/NAME, "
                "optionally @REVISION (a branch, tag or 40-hex commit; default: the repo's main branch), of which "
                f"only {', '.join(HUB_FILES)} are downloaded into the Hugging Face cache (HF_HOME); a local "
                "directory of that name wins (no default)")
HUB_ENVIRONMENT = """\
  A Hub adapter (--adapter USER/NAME[@REV]) is fetched by huggingface_hub, which reads HF_TOKEN
  (a private or gated repo; else the token of `hf auth login`; never printed), HF_ENDPOINT (the
  Hub's address, default https://huggingface.co), HF_HOME / HF_HUB_CACHE (the cache, default
  ~/.cache/huggingface) and HF_HUB_OFFLINE=1 (use the cached copy only).
"""

_COMMIT = re.compile(r"[0-9a-f]{40}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class AdapterSpec:
    """What ``--adapter`` said: a local path (``repo_id`` None) or a Hub repo and the revision asked (None: main)."""

    text: str
    repo_id: str | None = None
    revision: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class AdapterSource:
    """The folder to load the adapter from and where it came from (``repo_id``/``revision``/``commit``: Hub only)."""

    path: Path
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.repo_id is not None

    def describe(self) -> str:
        """``USER/NAME@REV (commit SHA)`` for a Hub adapter, the run directory otherwise."""
        if not self.is_hub:
            return str(self.path)
        return f"{self.repo_id}@{self.revision or 'main'} (commit {self.commit})"

    def hub_record(self) -> dict[str, str | None]:
        """``repo_id``, ``revision`` (as asked; None: the default branch) and ``commit``; all None for a local run."""
        return {"repo_id": self.repo_id, "revision": self.revision, "commit": self.commit}

    def provenance(self, base: str) -> dict[str, Any]:
        """What results record about the adapter: path, SHA-256 of its weights, base model, and the Hub source."""
        return {**adapter_provenance(self.path, base), **self.hub_record()}


def repo_id_problem(repo_id: str) -> str | None:
    """What is wrong with a Hub model repo id ``USER/NAME`` (None: nothing); no network. ``publish`` uses it too."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        return "expected USER/NAME or ORG/NAME"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _revision_problem(revision: str) -> str | None:
    if not revision:
        return "nothing after '@': give a branch, tag or commit, or leave '@' out for the main branch"
    if (len(revision) > 255 or not _REVISION.fullmatch(revision) or ".." in revision or "//" in revision
            or revision.endswith(("/", ".lock", "."))):
        return (f"revision {revision!r} is not a branch, tag or commit name (letters, digits, '.', '_', '-', '/'; "
                "a commit is 40 hex digits)")
    return None


def parse_adapter_spec(text: str | os.PathLike) -> AdapterSpec:
    """Local run directory or Hub repo, decided without any network; a malformed Hub spec is one error.

    An existing path is local. ``NAME/NAME@REV`` is a Hub spec and must be a valid one. A relative
    ``NAME/NAME`` that does not exist locally is a Hub repo id when it is a valid one; an invalid
    one is refused naming both readings. Anything else is a local path (its checks report it).
    """
    text = os.fspath(text)
    if _local_path_exists(text) or text.startswith(("/", ".", "~")) or "\\" in text:
        return AdapterSpec(text)
    name, at, revision = text.partition("@")
    if not at and name.count("/") != 1:
        return AdapterSpec(text)  # a path (`run`, `saves/a/b`): the run-directory checks name it
    problem = repo_id_problem(name) or (_revision_problem(revision) if at else None)
    if problem:
        raise DynahateError(f"--adapter {text!r}: run directory not found, and not a Hub repo id "
                            f"USER/NAME[@REVISION]: {problem}")
    return AdapterSpec(text, name, revision if at else None)


def _local_path_exists(text: str) -> bool:
    """Whether ``text`` names an existing path; a path no system call can look at is one error, not a traceback."""
    try:
        return Path(text).expanduser().exists()
    except RuntimeError:  # `~someone/...`: no such user, or no home directory to expand `~` to
        user = text[1:].split("/", 1)[0]
        who = f"no user {user!r} on this machine" if user else "no home directory to expand '~' to"
        raise DynahateError(f"--adapter {_short(text)}: run directory not found ({who})") from None
    except OSError as exc:  # a name too long for the file system, ...
        raise DynahateError(f"--adapter {_short(text)}: run directory not found "
                            f"({exc.strerror or first_line(exc)})") from None


def _short(text: str, limit: int = 80) -> str:
    """``text`` quoted, cut to ``limit`` characters (with its length) when longer."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def require_output_dir(spec: AdapterSpec, output_dir: Path | None) -> None:
    """Refuse a Hub adapter without ``--output-dir`` (the default, the run directory, would be the HF cache)."""
    if spec.is_hub and output_dir is None:
        raise DynahateError(f"--adapter {spec.text} is a Hub repo, whose folder is the Hugging Face cache: "
                            "pass --output-dir DIR for the results")


def fetch_adapter(spec: AdapterSpec) -> AdapterSource:
    """The folder to load from: the local run as given, or the Hub repo's adapter and tokenizer files, fetched.

    Raises:
        DynahateError: the repo, revision or files cannot be had (one line saying what to do).
    """
    if not spec.is_hub:
        return AdapterSource(Path(spec.text))
    folder = _download(spec)
    source = AdapterSource(Path(folder), spec.repo_id, spec.revision, Path(folder).name)
    missing = [name for name in ADAPTER_FILES if not (source.path / name).is_file()]
    if missing:
        raise DynahateError(f"{spec.repo_id} at commit {source.commit} has no {' or '.join(missing)}: "
                            "it is not a LoRA adapter repo (publish one with `dynahate publish`)")
    return source


def _download(spec: AdapterSpec) -> str:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import disable_progress_bars

    revision = spec.revision or "main"
    where = f"{spec.repo_id}@{revision}"
    try:
        with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 keeps the bars, with a warning
            warnings.simplefilter("ignore")
            quiet = disable_progress_bars()
        with quiet:
            return snapshot_download(cast(str, spec.repo_id), revision=spec.revision, allow_patterns=list(HUB_FILES))
    except GatedRepoError as exc:
        raise DynahateError(_gated_message(spec, exc)) from None
    except RepositoryNotFoundError:
        raise DynahateError(f"--adapter {spec.text}: no such local run directory, and no model repo "
                            f"{spec.repo_id} on {constants.ENDPOINT} readable with {_token_words()}: check the "
                            "name; for a private repo log in with `hf auth login` or set HF_TOKEN") from None
    except RevisionNotFoundError:
        raise DynahateError(f"{spec.repo_id} has no revision {revision!r} on {constants.ENDPOINT} (a branch, tag "
                            "or 40-hex commit)") from None
    except LocalEntryNotFoundError as exc:
        if constants.HF_HUB_OFFLINE:
            raise DynahateError(f"{where} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
                                "HF_HUB_OFFLINE is set: run once online (HF_HUB_OFFLINE=0) to cache it") from None
        raise DynahateError(f"cannot fetch {where} from {constants.ENDPOINT} ({_cause(exc)}) and it is not in the "
                            f"Hugging Face cache ({constants.HF_HUB_CACHE}): check the network and HF_ENDPOINT, "
                            "then retry") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise DynahateError(f"the Hub refused {where} ({status}): log in with `hf auth login` or set HF_TOKEN "
                                "to a token that may read it") from None
        raise DynahateError(f"cannot fetch {where} from {constants.ENDPOINT}: {first_line(exc)}") from None
    except OSError as exc:  # the cache folder cannot be written, a connection dropped mid-file, ...
        raise DynahateError(f"cannot fetch {where} into the Hugging Face cache ({constants.HF_HUB_CACHE}): "
                            f"{first_line(exc)}") from None


def _gated_message(spec: AdapterSpec, exc) -> str:
    from huggingface_hub import constants

    page = f"{constants.ENDPOINT}/{spec.repo_id}"
    if exc.response is not None and exc.response.status_code == 403:
        return (f"{spec.repo_id} is a gated repo and {_token_words()} has no access to it: request access on {page} "
                "with that account, or set HF_TOKEN to a token of an account that has it")
    return (f"{spec.repo_id} is a gated repo: request access on {page}, then log in with `hf auth login` or set "
            "HF_TOKEN")


def _token_words() -> str:
    """Which token the request carried, in words (never the token)."""
    from huggingface_hub.utils import get_token

    if os.environ.get("HF_TOKEN"):
        return "the token in HF_TOKEN"
    return "the token of `hf auth login`" if get_token() else "no token (HF_TOKEN unset, not logged in)"


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return first_line(cause) if cause is not None else first_line(exc)


