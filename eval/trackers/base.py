"""The interface every tracker module implements, and what it is given.

A tracker module (:mod:`.mlflow_tracker`, :mod:`.tensorboard_tracker`, :mod:`.wandb_tracker`) has a
:class:`TrackerSpec` (its name, the import that proves its extra is installed, the extra) and a ``locate``
function: before the model loads it finds where the evaluation goes (the training's own run, or, where none is
found, a new one named after the adapter, said in one line) and returns a :class:`Destination`, whose ``log`` is
called with the :class:`~dynahate.eval.trackers.names.Payload` once the evaluation is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dynahate.eval.trackers.names import Payload
from dynahate.eval.trackers.run_folder import TrainingRun


@dataclass(frozen=True)
class TrackerSpec:
    name: str  # as report_to says it
    module: str  # importable when the extra is installed
    extra: str  # pip install 'dynahate-qlora[<extra>]'
    title: str  # as printed
    stores_files: bool = True  # False: the files stay in the evaluation folder, their paths are logged


@dataclass(frozen=True)
class Where:
    """What ``locate`` is given: the training run's folder as read, the adapter's name for a new run, the folder the
    evaluation is written to, and the run ids the command line named (None: find them)."""

    run: TrainingRun
    adapter_name: str
    out_dir: Path
    mlflow_run_id: str | None = None
    wandb_run_id: str | None = None


class Destination(Protocol):
    """Where one tracker logs: ``description`` names it in the printed line; ``log`` logs everything."""

    @property
    def description(self) -> str: ...

    def log(self, payload: Payload) -> None: ...
