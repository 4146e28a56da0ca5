"""Weights & Biases: the evaluation lands in the training's run, resumed by its id.

The id is ``--wandb-run-id``, or else the one of the latest run under the run folder's ``wandb/`` (where
``wandb`` writes ``run-<date>-<id>`` / ``offline-run-<date>-<id>`` when the training ran with ``WANDB_DIR`` set to
the run folder) or under ``$WANDB_DIR/wandb``. The project is ``WANDB_PROJECT``, else ``llamafactory`` (what
LLaMA-Factory's callback sets when it is unset); the entity ``WANDB_ENTITY``, as usual. ``WANDB_MODE=offline``
works as for training: the run's files are written beside the training's under the same id, for ``wandb sync``.
None found: one line, and a new run named after the adapter. Logged: every figure (``run.log`` with the
training's ``train/global_step``, and the run summary), the plots as ``wandb.Image``, the tags in the run's config
under ``dynahate/``, and the files as one artifact of type ``evaluation``. No token is read or printed here; wandb
reads ``WANDB_API_KEY`` or its login itself.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dynahate.core.errors import DynahateError
from dynahate.eval.trackers.base import TrackerSpec, Where
from dynahate.eval.trackers.names import Payload, artifact_files, segment

SPEC = TrackerSpec("wandb", "wandb", "wandb", "W&B")
DEFAULT_PROJECT = "llamafactory"
STEP_METRIC = "train/global_step"
_RUN_DIR = re.compile(r"(?:offline-)?run-\d{8}_\d{6}-([A-Za-z0-9]+)")
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def training_runs(folder: Path) -> list[tuple[str, str]]:
    """``(directory name, run id)`` of every wandb run under ``folder/wandb``, oldest first (by their names'
    date and time)."""
    base = folder / "wandb"
    if not base.is_dir():
        return []
    runs = [(match.group(0).removeprefix("offline-"), match.group(1)) for path in base.iterdir()
            if path.is_dir() and (match := _RUN_DIR.fullmatch(path.name))]
    return sorted(runs)


@dataclass
class WandbDestination:
    run_id: str | None
    adapter_name: str
    wandb_dir: Path | None  # where the run files go (the training's, when found)
    found: str

    @property
    def description(self) -> str:
        if self.run_id is None:
            return f"a new W&B run named {self.adapter_name}"
        return f"the training's W&B run {self.run_id} ({self.found})"

    def log(self, payload: Payload) -> None:
        import wandb

        files = artifact_files(payload)
        # WANDB_DIR and WANDB_MODE read here, not from wandb's process-wide setup: this call's environment counts
        folder = str(self.wandb_dir) if self.wandb_dir is not None else os.environ.get("WANDB_DIR")
        mode = os.environ.get("WANDB_MODE")
        try:
            run = wandb.init(project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT, job_type="eval",
                             id=self.run_id, resume="allow" if self.run_id is not None else None,
                             name=None if self.run_id is not None else self.adapter_name, dir=folder or None,
                             mode=mode if mode in ("online", "offline", "disabled", "shared") else None)
        except Exception as exc:  # noqa: BLE001 - wandb's errors (no login, no network) as one line
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DynahateError(f"W&B: cannot start the run: {message[:300]}") from None
        try:
            run.config.update({f"dynahate/{name}": value for name, value in payload.tags.items()},
                              allow_val_change=True)
            images = {name: wandb.Image(str(path)) for name, path in payload.images.items()}
            run.log({STEP_METRIC: payload.step, **payload.metrics, **images})
            run.summary.update(payload.metrics)
            artifact = wandb.Artifact(f"dynahate-eval-{segment(run.id)}", type="evaluation")
            for path in files:
                artifact.add_file(str(path), name=path.name)
            run.log_artifact(artifact)
        finally:
            run.finish()


def locate(where: Where) -> WandbDestination:
    if where.wandb_run_id:
        if not _RUN_ID.fullmatch(where.wandb_run_id):
            raise DynahateError(f"--wandb-run-id {where.wandb_run_id!r}: not a W&B run id (letters, digits, '_', '-')")
        return WandbDestination(where.wandb_run_id, where.adapter_name, None, "named by --wandb-run-id")
    places = [where.run.folder] if where.run.folder is not None else []
    if os.environ.get("WANDB_DIR"):
        places.append(Path(os.environ["WANDB_DIR"]))
    for place in places:
        runs = training_runs(place)
        if runs:
            return WandbDestination(runs[-1][1], where.adapter_name, place,
                                    f"the latest of {place / 'wandb'}" if len(runs) > 1 else f"in {place / 'wandb'}")
    said = " or ".join(str(place / "wandb") for place in places) or "no run folder"
    print(f"W&B: no run of this training found ({said}; --wandb-run-id names one): logging to a new run named "
          f"{where.adapter_name}", file=sys.stderr)
    return WandbDestination(None, where.adapter_name, None, "")
