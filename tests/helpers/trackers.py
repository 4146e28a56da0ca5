"""The experiment trackers in tests, offline: the environment that keeps each inside a folder, and the readers that
read what was logged back with each tracker's own client (MLflow's ``MlflowClient``, TensorBoard's event reader, the
W&B run files)."""

from __future__ import annotations

import math
from pathlib import Path

REPORT_TO = "report_to=[mlflow,tensorboard,wandb]"  # LLaMA-Factory reads the override as a list (OmegaConf)


def run_tracker_env(run: Path) -> dict[str, str]:
    """The trackers' stores of the training ``run`` beside its folder, its W&B runs under it (``WANDB_DIR``)."""
    return tracker_env(run.with_name(run.name + "-trackers"), wandb_dir=run)


def tracker_env(folder: Path, wandb_dir: Path | None = None) -> dict[str, str]:
    """MLflow on an SQLite store in ``folder``; W&B offline and silent, every file of it in ``folder`` (its runs
    under ``wandb_dir``, default ``folder``), each process with its own wandb service; nothing tries the network."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLED": "false",  # tests' OFFLINE_ENV disables it
        "WANDB_DIR": str(wandb_dir or folder), "WANDB_CACHE_DIR": str(folder / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(folder / "wandb-config"), "WANDB_DATA_DIR": str(folder / "wandb-data"),
        "WANDB_ARTIFACT_DIR": str(folder / "wandb-artifacts"), "WANDB_PROJECT": "dynahate-tests",
        "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true", "WANDB__DISABLE_STATS": "true",
        # empty: no wandb service of this process (wandb sets WANDB_SERVICE once it ran here) is shared with a
        # training started from it, whose run id would then stay taken in this process's service
        "WANDB_SERVICE": "",
    }


def mlflow_metrics(uri: str, run_id: str) -> dict[str, float]:
    """The run's latest metric values, read with ``MlflowClient``."""
    from mlflow.tracking import MlflowClient

    return dict(MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics)


def mlflow_run(uri: str, run_id: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri).get_run(run_id)


def mlflow_runs(uri: str) -> list:
    """Every run of the store, newest first."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(experiments, order_by=["attributes.start_time DESC"])


def mlflow_artifact_files(uri: str, run_id: str, path: str = "") -> dict[str, bytes]:
    """Every artifact of the run (its path -> its bytes), downloaded with MLflow's client."""
    import tempfile

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(client.download_artifacts(run_id, path, folder))
        return {str(file.relative_to(local)): file.read_bytes() for file in local.rglob("*") if file.is_file()}


def tensorboard_scalars(log_dir: Path) -> dict[str, float]:
    """The last value of every scalar of ``log_dir``, read with TensorBoard's event reader: the tensor-backed ones
    (``new_style``, 64-bit when logged so) at full precision, the classic ones as stored."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util import tensor_util

    reader = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0, "scalars": 0, "images": 0})
    reader.Reload()
    values: dict[str, float] = {}
    for tag in reader.Tags()["scalars"]:
        values[tag] = reader.Scalars(tag)[-1].value
    for tag in reader.Tags()["tensors"]:
        array = tensor_util.make_ndarray(reader.Tensors(tag)[-1].tensor_proto)
        if array.shape == () and array.dtype.kind == "f":
            values[tag] = float(array)
    return values


def tensorboard_tags(log_dir: Path) -> dict[str, list[str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0})
    reader.Reload()
    return reader.Tags()


def wandb_run_folders(wandb_dir: Path, run_id: str) -> list[Path]:
    """The W&B run folders of ``run_id`` under ``wandb_dir/wandb``, oldest first."""
    return sorted(path for path in (wandb_dir / "wandb").glob(f"*run-*-{run_id}") if path.is_dir())


def equal(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
