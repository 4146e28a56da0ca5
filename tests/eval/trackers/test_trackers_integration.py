"""The trackers for real, offline: one tiny ``llamafactory-cli train`` that reports to MLflow (an SQLite store),
TensorBoard and W&B (offline) at once, then ``dynahate eval --report-to auto`` and ``dynahate hatecheck`` into its
run folder; each tracker's own reader finds every figure equal to ``eval_results.json`` in the training's own run
(the MLflow run holding the training's loss, the TensorBoard directory holding it, the W&B run id of the training's
files), and no post text in what was stored.

The training is ``tracked_run`` (tests/conftest.py), the exact recipe's 6-step run of the loss curves: the figures
need not be good, only the training's own runs, which ``trained_run`` (``report_to: none``) has not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynahate.eval.trackers.names import ADAPTER_TAG, payload
from dynahate.plugin.eval_record import RESULTS_NAME, read_record
from dynahate.plugin.splits import data_file
from dynahate.testing.cli import FIXTURES, run_main
from dynahate.testing.records import read_jsonl
from dynahate.testing.trackers import (
    mlflow_artifact_files,
    mlflow_runs,
    run_tracker_env,
    tensorboard_scalars,
    tensorboard_tags,
    wandb_run_folders,
)


@pytest.fixture(scope="module")
def tracked_eval(build_once, tracked_run, prepared_data):
    """``dynahate eval --report-to auto`` into the run folder, once: its output."""

    def evaluate(marker: Path) -> None:
        proc = run_main(["eval", "--adapter", str(tracked_run), "--data-dir", str(prepared_data),
                         "--report-to", "auto"], env=run_tracker_env(tracked_run), cwd=tracked_run.parent)
        marker.mkdir()
        (marker / "proc.json").write_text(json.dumps([proc.stdout, proc.stderr]))

    stdout, stderr = json.loads((build_once("tracked-eval", evaluate) / "proc.json").read_text())
    return stdout, stderr


def _expected(run: Path, splits: list[str]) -> dict[str, float]:
    return payload(read_record(run / RESULTS_NAME), splits).metrics


def _ours(metrics: dict[str, float], splits: list[str]) -> dict[str, float]:
    """The figures of ``splits`` among a run's metrics (the Trainer logs ``eval/loss`` too, to TensorBoard)."""
    prefixes = tuple("hatecheck/" if split == "hatecheck" else f"eval/{split}/" for split in splits)
    return {name: value for name, value in metrics.items() if name.startswith(prefixes)}


def _training_mlflow_run(run: Path):
    """The run MLflowCallback created for the training: the one with its loss and its output_dir."""
    uri = run_tracker_env(run)["MLFLOW_TRACKING_URI"]
    (training,) = [r for r in mlflow_runs(uri) if "loss" in r.data.metrics]
    assert training.data.params["output_dir"] == str(run)
    return uri, training


def _posts(prepared_data: Path) -> list[str]:
    return [record["input"] for split in ("dev", "test") for record in read_jsonl(data_file(prepared_data, split))]


def test_auto_logs_into_the_trainings_mlflow_run(tracked_run, tracked_eval, prepared_data):
    stdout, _ = tracked_eval
    assert "--report-to auto: the run was trained with report_to mlflow, tensorboard, wandb" in stdout
    uri, training = _training_mlflow_run(tracked_run)
    expected = _expected(tracked_run, ["dev", "test"])
    assert f"MLflow: logged {len(expected)} figures, 8 plots and 3 files to the training's MLflow run " \
           f"{training.info.run_id}" in stdout
    assert _ours(training.data.metrics, ["dev", "test"]) == expected  # every figure, equal, nothing more
    record = read_record(tracked_run / RESULTS_NAME)
    assert training.data.tags[ADAPTER_TAG] == record.splits["test"]["adapter"]["sha256"]  # type: ignore[index]
    assert training.data.tags["eval/test/fingerprint/sha256"] == record.splits["test"]["fingerprint"]["sha256"]
    stored = mlflow_artifact_files(uri, training.info.run_id, "dynahate-eval")
    assert {"eval_results.json", "dev_predictions.jsonl", "test_predictions.jsonl", "plots/test_roc.png"} <= set(stored)
    assert json.loads(stored["eval_results.json"]) == json.loads((tracked_run / RESULTS_NAME).read_text())
    texts = [data.decode("utf-8") for name, data in stored.items() if not name.endswith(".png")]
    posts = _posts(prepared_data)
    assert posts and not [post for post in posts for text in texts if post in text]  # no post text stored


def test_auto_logs_into_the_trainings_tensorboard_directory(tracked_run, tracked_eval):
    (log_dir,) = [path for path in (tracked_run / "runs").iterdir() if path.is_dir()]  # the training's, and only it
    scalars = tensorboard_scalars(log_dir)
    assert "train/loss" in scalars
    expected = _expected(tracked_run, ["dev", "test"])
    assert _ours(scalars, ["dev", "test"]) == expected
    tags = tensorboard_tags(log_dir)
    assert {"eval/test/plots/roc", "eval/dev/plots/confusion_matrix"} <= set(tags["images"])


def test_auto_resumes_the_trainings_wandb_run(tracked_run, tracked_eval):
    stdout, _ = tracked_eval
    first = min((tracked_run / "wandb").glob("offline-run-*"))  # the training's own files
    run_id = first.name.rsplit("-", 1)[1]
    assert "W&B: logged" in stdout and f"the training's W&B run {run_id}" in stdout
    folders = wandb_run_folders(tracked_run, run_id)
    assert len(folders) == 2 and folders[0] == first  # the evaluation's files, under the training's id
    stored = next(folders[1].glob(f"run-{run_id}.wandb")).read_bytes()
    missing = [name for name in _expected(tracked_run, ["dev", "test"]) if name.encode() not in stored]
    assert missing == []


def test_hatecheck_logs_into_the_same_runs(tracked_run, tracked_eval, tmp_path):
    proc = run_main(["hatecheck", "--adapter", str(tracked_run), "--csv", str(FIXTURES / "hatecheck_sample.csv"),
                     "--report-to", "mlflow", "tensorboard"], env=run_tracker_env(tracked_run), cwd=tmp_path)
    expected = _expected(tracked_run, ["hatecheck"])
    assert any(name.startswith("hatecheck/") and name.endswith("/accuracy") and name.count("/") == 2
               and name != "hatecheck/accuracy" for name in expected)  # per functional test
    _, training = _training_mlflow_run(tracked_run)
    assert _ours(training.data.metrics, ["hatecheck"]) == expected
    (log_dir,) = [path for path in (tracked_run / "runs").iterdir() if path.is_dir()]
    assert _ours(tensorboard_scalars(log_dir), ["hatecheck"]) == expected
    assert "hatecheck/plots/functionalities" in tensorboard_tags(log_dir)["images"]
    assert f"MLflow: logged {len(expected)} figures" in proc.stdout
