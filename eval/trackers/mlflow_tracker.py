"""MLflow: the evaluation lands in the run transformers' ``MLflowCallback`` created for the training.

The tracking store is MLflow's own (``MLFLOW_TRACKING_URI``, as for training; unset: ``./mlruns``). The run is the
one named by ``--mlflow-run-id``, or else found by the parameter the callback logged, ``output_dir`` (as the run
folder's ``training_args.bin`` holds it, else the folder's path as given and absolute), in every experiment; of
several, the latest started. None found: one line, and a new run named after the adapter in
``MLFLOW_EXPERIMENT_NAME`` (default: MLflow's default experiment). Metrics go in with ``log_batch`` at the
training's last step; tags beside them; the plots under the run's artifacts ``dynahate-eval/plots/``, the files
under ``dynahate-eval/``. The tracking URI is never printed (it may hold a password).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.eval.trackers.base import TrackerSpec, Where
from dynahate.eval.trackers.names import Payload, artifact_files

SPEC = TrackerSpec("mlflow", "mlflow", "mlflow", "MLflow")
ARTIFACT_DIR = "dynahate-eval"
BATCH = 1000  # MLflow's most metrics in one log_batch
TAG_BATCH = 100


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _fail(action: str, exc: Exception) -> DynahateError:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DynahateError(f"MLflow: cannot {action}: {message[:300]}")


def _quoted(value: str) -> str | None:
    return None if "'" in value else f"'{value}'"


def find_training_run(where: Where) -> tuple[str | None, str]:
    """The training's run id (None: none found) and how it was found, said in words."""
    from mlflow.entities import ViewType

    client = _client()
    if where.mlflow_run_id:
        try:
            run = client.get_run(where.mlflow_run_id)
        except Exception as exc:  # noqa: BLE001 - MlflowException, or the store's own errors
            raise _fail(f"find the run --mlflow-run-id {where.mlflow_run_id}", exc) from None
        return run.info.run_id, "named by --mlflow-run-id"
    folder = where.run.folder
    values = [value for value in (where.run.output_dir, *(
        (str(folder), str(folder.resolve())) if folder is not None else ())) if value]
    values = list(dict.fromkeys(values))
    if not values:
        return None, "no run folder to find it by"
    try:
        experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
        runs = []
        for value in values:
            quoted = _quoted(value)
            if quoted is not None and experiments:
                runs += client.search_runs(experiments, filter_string=f"params.output_dir = {quoted}",
                                           order_by=["attributes.start_time DESC"], max_results=50)
    except Exception as exc:  # noqa: BLE001
        raise _fail("search the tracking store for the training's run", exc) from None
    if not runs:
        return None, f"no run with the parameter output_dir = {values[0]}"
    runs.sort(key=lambda run: run.info.start_time or 0, reverse=True)
    ids = list(dict.fromkeys(run.info.run_id for run in runs))
    note = "its output_dir parameter" + (f" (the latest of {len(ids)}; --mlflow-run-id picks another)"
                                          if len(ids) > 1 else "")
    return ids[0], note


@dataclass
class MlflowDestination:
    run_id: str | None  # None: a new run, created when logging
    adapter_name: str
    found: str
    created: bool = False

    @property
    def description(self) -> str:
        if self.run_id is None or self.created:
            return f"a new MLflow run named {self.adapter_name}" + (f" ({self.run_id})" if self.run_id else "")
        return f"the training's MLflow run {self.run_id} (found by {self.found})"

    def _new_run(self, client: Any) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
        experiment_id = "0"
        if name:
            experiment = client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        return client.create_run(experiment_id, run_name=self.adapter_name).info.run_id

    def log(self, payload: Payload) -> None:
        from mlflow.entities import Metric, RunTag

        files = artifact_files(payload)
        client = _client()
        try:
            if self.run_id is None:
                self.run_id, self.created = self._new_run(client), True
            stamp = int(time.time() * 1000)
            metrics = [Metric(name, float(value), stamp, payload.step) for name, value in payload.metrics.items()]
            tags = [RunTag(name, value) for name, value in payload.tags.items()]
            for start in range(0, len(metrics), BATCH):
                client.log_batch(self.run_id, metrics=metrics[start:start + BATCH])
            for start in range(0, len(tags), TAG_BATCH):
                client.log_batch(self.run_id, tags=tags[start:start + TAG_BATCH])
            for path in files:
                client.log_artifact(self.run_id, str(path), ARTIFACT_DIR)
            for path in payload.images.values():
                client.log_artifact(self.run_id, str(path), f"{ARTIFACT_DIR}/plots")
        except Exception as exc:  # noqa: BLE001
            raise _fail(f"log to run {self.run_id}", exc) from None


def locate(where: Where) -> MlflowDestination:
    run_id, found = find_training_run(where)
    if run_id is None:
        print(f"MLflow: no run of this training found ({found}): logging to a new run named {where.adapter_name}",
              file=sys.stderr)
    return MlflowDestination(run_id, where.adapter_name, found)
