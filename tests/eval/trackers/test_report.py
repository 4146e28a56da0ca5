"""``--report-to`` without a training: the refusals before the model loads (an extra not installed, a named MLflow
run the store lacks, ``none``/``auto`` with others), the run folder read without running its pickle, and the fallback
where no training run is found: one line, and a new run named after the adapter in each real tracker (an SQLite
MLflow store, a TensorBoard directory, W&B offline), whose figures read back equal the record's."""

from __future__ import annotations

import os
import pickle
import sys

import pytest

from dynahate.eval.trackers.names import payload
from dynahate.eval.trackers.report import ReportOptions, prepare_reporting
from dynahate.eval.trackers.run_folder import TRAINING_ARGS, read_training_run
from dynahate.plugin.eval_record import RESULTS_NAME, read_record
from dynahate.testing.cli import run_main
from dynahate.testing.eval_folders import write_scored_folder
from dynahate.testing.trackers import mlflow_artifact_files, mlflow_runs, tensorboard_scalars, tracker_env


@pytest.mark.parametrize("tracker", ["mlflow", "tensorboard", "wandb"])
def test_a_tracker_not_installed_is_one_line_naming_the_extra_before_the_model_loads(made_up_run, monkeypatch,
                                                                                       tracker):
    tmp, run, _, _ = made_up_run
    monkeypatch.setitem(sys.modules, tracker, None)  # what an environment without the extra imports
    proc = run_main(["eval", "--adapter", str(run), "--report-to", tracker, "--output-dir", str(tmp / "out")],
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"error: --report-to {tracker}: not installed; "
                                   f"pip install 'dynahate-qlora[{tracker}]'")
    assert not (tmp / "out").exists()


def test_hatecheck_refuses_the_same_way(made_up_run, monkeypatch):
    tmp, run, _, _ = made_up_run
    monkeypatch.setitem(sys.modules, "wandb", None)
    proc = run_main(["hatecheck", "--adapter", str(run), "--report-to", "mlflow", "wandb"], check=False)
    assert proc.returncode == 2 and "pip install 'dynahate-qlora[wandb]'" in proc.stderr


@pytest.mark.parametrize("flags", [["none", "mlflow"], ["auto", "wandb"]])
def test_none_and_auto_go_alone(made_up_run, flags):
    _, run, _, _ = made_up_run
    proc = run_main(["eval", "--adapter", str(run), "--report-to", *flags], check=False)
    assert proc.returncode == 2 and "'none' and 'auto' go alone" in proc.stderr


def test_a_named_mlflow_run_the_store_lacks_is_refused_before_the_model_loads(made_up_run, tmp_path):
    tmp, run, _, _ = made_up_run
    env = tracker_env(tmp_path / "trackers")
    proc = run_main(["eval", "--adapter", str(run), "--report-to", "mlflow", "--mlflow-run-id", "0" * 32],
                    env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]  # MLflow notes a new store
    assert len(errors) == 1 and errors[0].startswith("error: MLflow: cannot find the run --mlflow-run-id 0000")
    assert not (tmp / "run" / "eval_results.json").exists()


def test_auto_on_a_run_folder_without_trackers_logs_nothing(made_up_run):
    tmp, run, _, _ = made_up_run
    proc = run_main(["eval", "--adapter", str(run), "--report-to", "auto"], check=False)
    assert "--report-to auto: the run was trained with report_to none of mlflow, tensorboard, wandb" in proc.stdout
    assert proc.returncode == 2 and "dynahate_dev.jsonl: file not found" in proc.stderr  # went on, to the data


class _Explodes:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_training_args_are_read_without_running_the_pickle(tmp_path):
    import torch
    from transformers import TrainingArguments

    run = tmp_path / "run"
    run.mkdir()
    args = TrainingArguments(output_dir="saves/x", report_to=["mlflow", "wandb"], run_name="r1")
    torch.save(args, run / TRAINING_ARGS)
    (run / "trainer_state.json").write_text('{"global_step": 60}')
    read = read_training_run(run)
    assert (read.report_to, read.output_dir, read.run_name, read.global_step) == (("mlflow", "wandb"), "saves/x",
                                                                                   "r1", 60)
    assert read.trained_with() == ("mlflow", "wandb")
    marker = tmp_path / "ran"
    (run / TRAINING_ARGS).write_bytes(pickle.dumps(_Explodes(str(marker))))
    assert read_training_run(run).report_to is None and not marker.exists()
    torch.save({"report_to": _Explodes(str(marker))}, run / TRAINING_ARGS)
    assert read_training_run(run).report_to is None and not marker.exists()


def test_no_training_run_found_is_one_line_and_a_new_run_named_after_the_adapter(tmp_path, monkeypatch, capsys):
    """Every tracker, for real: nothing of a training anywhere, so each says so once and logs to a new run."""
    env = tracker_env(tmp_path / "trackers")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root, ./mlruns
    adapter = tmp_path / "my-adapter"
    adapter.mkdir()
    out = write_scored_folder(tmp_path / "eval", seed=5, dev=True)
    options = ReportOptions(("mlflow", "tensorboard", "wandb"))
    reporting = prepare_reporting(options, run_folder=adapter, adapter=str(adapter), out_dir=out)
    said = capsys.readouterr()
    lines = [line for line in said.err.splitlines() if " INFO mlflow." not in line]  # MLflow notes a new store
    assert len(lines) == 3, said
    assert lines[0].startswith("MLflow: no run of this training found") and lines[0].endswith(
        "logging to a new run named my-adapter")
    assert lines[1].startswith("TensorBoard: no logging directory of this training found") and \
        lines[1].endswith(f"logging to {out / 'runs' / 'my-adapter'}")
    assert lines[2].startswith("W&B: no run of this training found") and lines[2].endswith("named my-adapter")
    reporting.log(out, ["dev", "test"])
    expected = payload(read_record(out / RESULTS_NAME), ["dev", "test"]).metrics
    (run,) = mlflow_runs(env["MLFLOW_TRACKING_URI"])
    assert run.info.run_name == "my-adapter"
    assert run.data.metrics == expected
    assert set(mlflow_artifact_files(env["MLFLOW_TRACKING_URI"], run.info.run_id)) >= {
        "dynahate-eval/eval_results.json", "dynahate-eval/test_predictions.jsonl", "dynahate-eval/plots/test_roc.png"}
    assert tensorboard_scalars(out / "runs" / "my-adapter") == expected
    (wandb_run,) = [path for path in (tmp_path / "trackers" / "wandb").glob("offline-run-*") if path.is_dir()]
    stored = next(wandb_run.glob("*.wandb")).read_bytes()
    assert b"eval/test/macro_f1_ci_low" in stored and b"my-adapter" in stored
