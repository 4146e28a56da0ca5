"""What a LLaMA-Factory run folder says about the training's trackers, read without running anything from it.

- ``training_args.bin``: the Trainer's ``TrainingArguments``, a ``torch.save`` pickle. A run folder travels (a Hub
  adapter, a colleague's run), and unpickling runs whatever the pickle names, so it is never unpickled as such:
  :class:`_InertUnpickler` turns every class the pickle names into an empty record of its arguments and state, and
  only ``report_to``, ``output_dir`` and ``run_name`` are taken from it, when they are strings (lists of strings).
- ``trainer_state.json``: ``global_step``, the step the evaluation's figures are logged at (the end of training).
- what the trackers left: ``runs/<stamp>/events.out.tfevents.*`` (TensorBoard's default logging directory) and
  ``wandb/`` (when the training ran with ``WANDB_DIR`` set to the run folder).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAINING_ARGS = "training_args.bin"
TRAINER_STATE = "trainer_state.json"
MAX_ARGS_BYTES = 4 * 1024 * 1024  # TrainingArguments pickle to a few kB
TRACKERS = ("mlflow", "tensorboard", "wandb")


@dataclass(frozen=True)
class TrainingRun:
    """What the run folder says (``None``: it does not say)."""

    folder: Path | None
    report_to: tuple[str, ...] | None = None  # the training's trackers, as TrainingArguments held them
    output_dir: str | None = None  # as the training logged it (MLflow's ``output_dir`` parameter)
    run_name: str | None = None
    global_step: int | None = None

    def tensorboard_dirs(self) -> list[Path]:
        """The folders under ``runs/`` holding TensorBoard event files, most recently written last."""
        if self.folder is None or not (self.folder / "runs").is_dir():
            return []
        found = [(max(event.stat().st_mtime for event in events), path)
                 for path in (self.folder / "runs").iterdir()
                 if path.is_dir() and (events := list(path.glob("events.out.tfevents.*")))]
        return [path for _, path in sorted(found)]

    def trained_with(self) -> tuple[str, ...]:
        """The trackers the training reported to: ``report_to``, or else what it left in the folder."""
        if self.report_to is not None:
            return tuple(name for name in TRACKERS if name in self.report_to)
        left = []
        if self.tensorboard_dirs():
            left.append("tensorboard")
        if self.folder is not None and (self.folder / "wandb").is_dir():
            left.append("wandb")
        return tuple(left)


class _Inert:
    """Stands for any class a pickle names: keeps its arguments and state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = kwargs or None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:  # a named function called by REDUCE
        return _Inert(*args, **kwargs)


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Inert,), {"__module__": f"inert.{module}"})

    def persistent_load(self, pid: Any) -> Any:  # torch.save's storages: none in TrainingArguments
        return None


def _state(data: bytes) -> dict[str, Any]:
    """The attribute dict of the pickled object, whatever it is, or {} when there is none."""
    try:
        obj = _InertUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - not a pickle this reader understands: the folder says nothing
        return {}
    state = getattr(obj, "state", None)
    if isinstance(state, tuple) and state and isinstance(state[0], dict):  # (dict, slots)
        state = state[0]
    return state if isinstance(state, dict) else {}


def _pickle_bytes(path: Path) -> bytes | None:
    """The pickle of ``torch.save`` (a zip holding ``*/data.pkl``, or a bare pickle), at most MAX_ARGS_BYTES."""
    try:
        if path.stat().st_size > MAX_ARGS_BYTES or not path.is_file():
            return None
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next((info for info in archive.infolist() if info.filename.endswith("/data.pkl")), None)
                if member is None or member.file_size > MAX_ARGS_BYTES:
                    return None
                return archive.read(member)
        return path.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 4096 else None


def _report_to(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return () if value in ("none", "") else (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _global_step(folder: Path) -> int | None:
    try:
        state = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    step = state.get("global_step") if isinstance(state, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None


def read_training_run(folder: Path | None) -> TrainingRun:
    """What ``folder`` (a run folder, or None for a Hub adapter) says; missing or unreadable files say nothing."""
    if folder is None or not folder.is_dir():
        return TrainingRun(None)
    data = _pickle_bytes(folder / TRAINING_ARGS)
    state = _state(data) if data is not None else {}
    return TrainingRun(folder, report_to=_report_to(state.get("report_to")) if state else None,
                       output_dir=_text(state.get("output_dir")), run_name=_text(state.get("run_name")),
                       global_step=_global_step(folder))
