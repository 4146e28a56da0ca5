"""``--report-to``: which trackers, checked before the model loads, and the logging once the evaluation is written.

:func:`prepare_reporting` runs during the argument checks of ``dynahate eval`` and ``dynahate hatecheck``: it
resolves ``auto`` from the run folder (:mod:`.run_folder`), refuses a tracker whose extra is not installed (one
line naming the extra), and has each tracker find where the evaluation goes (a named run that does not exist is
refused here too). :meth:`Reporting.log` then reads the written ``eval_results.json`` through the record's reader,
flattens the evaluated splits once (:mod:`.names`) and hands the same payload to every tracker.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from dynahate.core.errors import DynahateError
from dynahate.eval.trackers import mlflow_tracker, tensorboard_tracker, wandb_tracker
from dynahate.eval.trackers.base import Destination, TrackerSpec, Where
from dynahate.eval.trackers.run_folder import TRACKERS, read_training_run

NONE, AUTO = "none", "auto"
CHOICES = (*TRACKERS, NONE, AUTO)
MODULES: dict[str, ModuleType] = {"mlflow": mlflow_tracker, "tensorboard": tensorboard_tracker,
                                  "wandb": wandb_tracker}


@dataclass(frozen=True)
class ReportOptions:
    """``--report-to`` (trackers, or ``none``, or ``auto``) and the run ids the command line named."""

    report_to: tuple[str, ...] = (NONE,)
    mlflow_run_id: str | None = None
    wandb_run_id: str | None = None


@dataclass
class Reporting:
    """The trackers to log to, each with where (found before the model loaded)."""

    destinations: list[tuple[TrackerSpec, Destination]] = field(default_factory=list)
    step: int = 0

    def log(self, out_dir: Path, splits: Iterable[str], say: Callable[[str], None] = print) -> None:
        """Log ``splits`` of ``out_dir/eval_results.json`` to every destination; one line each."""
        if not self.destinations:
            return
        from dynahate.eval.trackers.names import payload
        from dynahate.plugin.eval_record import RESULTS_NAME, read_record

        record = read_record(out_dir / RESULTS_NAME)
        data = payload(record, splits, self.step)
        for spec, destination in self.destinations:
            destination.log(data)
            files = f"{len(data.files)} files" if spec.stores_files else f"the paths of {len(data.files)} files"
            say(f"{spec.title}: logged {len(data.metrics)} figures, {len(data.images)} plots and {files} to "
                f"{destination.description}")


def extra_installed(spec: TrackerSpec) -> bool:
    """The tracker's package can be imported (found, not imported: MLflow takes seconds to import)."""
    if spec.module in sys.modules:
        return sys.modules[spec.module] is not None  # None: imports of it fail
    return importlib.util.find_spec(spec.module) is not None


def requested(options: ReportOptions, trained_with: Callable[[], tuple[str, ...]]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(options.report_to))
    if NONE in names or AUTO in names:
        if len(names) > 1:
            raise DynahateError(f"--report-to {' '.join(names)}: '{NONE}' and '{AUTO}' go alone")
        return () if names == (NONE,) else trained_with()
    return names


def adapter_name(adapter: str | None, out_dir: Path) -> str:
    """The name of a new run: the run folder's name, or the Hub repo id."""
    if adapter is None:
        return out_dir.resolve().name
    path = Path(adapter)
    return path.resolve().name if path.exists() else adapter.split("@", 1)[0]


def prepare_reporting(options: ReportOptions, *, run_folder: Path | None, adapter: str | None,
                      out_dir: Path, say: Callable[[str], None] = print) -> Reporting:
    """Which trackers and where, before the model loads; an extra not installed, or a named run not found, is one
    :class:`DynahateError`. ``run_folder``: the training's run folder (None for a Hub adapter)."""
    run = read_training_run(run_folder)
    names = requested(options, run.trained_with)
    if AUTO in options.report_to:
        trained = f"{', '.join(names)}" if names else "none of mlflow, tensorboard, wandb"
        say(f"--report-to auto: the run was trained with report_to {trained}"
            + ("" if run.report_to is not None else " (no training_args.bin: judged by the files it left)"))
    specs = [MODULES[name].SPEC for name in names]
    missing = [spec for spec in specs if not extra_installed(spec)]
    if missing:
        extras = ",".join(spec.extra for spec in missing)
        raise DynahateError(f"--report-to {' '.join(spec.name for spec in missing)}: not installed; "
                            f"pip install 'dynahate-qlora[{extras}]'")
    where = Where(run, adapter_name(adapter, out_dir), out_dir, options.mlflow_run_id, options.wandb_run_id)
    if options.mlflow_run_id and "mlflow" not in names:
        raise DynahateError("--mlflow-run-id needs --report-to mlflow (or auto, for a run trained with it)")
    if options.wandb_run_id and "wandb" not in names:
        raise DynahateError("--wandb-run-id needs --report-to wandb (or auto, for a run trained with it)")
    return Reporting([(spec, MODULES[spec.name].locate(where)) for spec in specs], run.global_step or 0)
