"""Concurrent ``dynahate eval`` runs into one directory lose no split; a signal mid-write leaves nothing behind.

The tests hold the output directory's lock themselves (with eval's own
``dynahate.eval.artifacts.results_lock``), so that real eval processes are caught at the point
where they have written their temporary files and wait to merge: the overlap is certain, not
left to timing. Whether a process waits is read from the kernel's ``/proc/locks``.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from dynahate.eval.artifacts import results_lock
from dynahate.testing.cli import OFFLINE_ENV, cli_path, default_sigint
from dynahate.testing.records import recorded_splits

pytestmark = pytest.mark.integration


def start_eval(*args):
    return subprocess.Popen([cli_path("dynahate"), "eval", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **OFFLINE_ENV}, preexec_fn=default_sigint)


def lock_waiters():
    """Pids blocked waiting for a flock (the ``->`` lines of /proc/locks)."""
    with open("/proc/locks") as handle:
        return {int(line.split()[5]) for line in handle if "->" in line and "FLOCK" in line}


def wait_until_blocked(procs, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"eval exited {proc.returncode} while the lock was held (it must wait):\n{out}\n{err}")
        if {proc.pid for proc in procs} <= lock_waiters():
            return
        time.sleep(0.2)
    pytest.fail("eval never waited for the lock")


def hidden_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def evaluated(score_eval):
    """The session's evaluation of the trained run (dev and test); tests copy it before changing it."""
    out, _ = score_eval
    assert hidden_files(out) == []  # no lock file or temporary file left by a normal run
    return out


def test_two_concurrent_evals_of_different_splits_both_land(trained_run, prepared_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with results_lock(out):  # the lock eval itself takes, held by the test
        procs = [start_eval("--adapter", str(trained_run), "--data-dir", str(prepared_data), "--split", split,
                            "--output-dir", str(out)) for split in ("dev", "test")]
        try:
            wait_until_blocked(procs)
            # both evaluated and wrote their temporary files; neither has touched the results yet
            assert not (out / "eval_results.json").exists()
            assert any(name.startswith(".dev_predictions.jsonl.") for name in hidden_files(out))
            assert any(name.startswith(".test_predictions.jsonl.") for name in hidden_files(out))
        except BaseException:
            for proc in procs:
                proc.kill()
            raise
    for proc in procs:
        out_text, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    results = recorded_splits(out)
    assert sorted(results) == ["dev", "test"]
    metrics = (out / "eval_metrics.txt").read_text()
    assert "== dev (score mode" in metrics and "== test (score mode" in metrics
    for split in ("dev", "test"):
        assert all((out / name).is_file() for name in results[split]["files"])
    assert hidden_files(out) == []


@pytest.mark.parametrize("signum, status, message", [
    (signal.SIGTERM, 143, "error: terminated"),
    (signal.SIGINT, 130, "error: interrupted"),
])
def test_signal_while_writing_leaves_no_temporary_file_and_old_outputs_untouched(
        evaluated, trained_run, prepared_data, tmp_path, signum, status, message):
    out = tmp_path / "out"
    shutil.copytree(evaluated, out)
    before = snapshot(out)
    with results_lock(out):  # the lock eval itself takes, held by the test
        proc = start_eval("--adapter", str(trained_run), "--data-dir", str(prepared_data), "--split", "dev",
                          "--mode", "generate", "--output-dir", str(out))
        try:
            wait_until_blocked([proc])
            written = [name for name in hidden_files(out) if name.endswith(".tmp")]
            assert any(name.startswith(".dev_predictions.jsonl.") for name in written), written
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == status, err[-3000:]
    assert err.strip().splitlines()[-1] == message and "Traceback" not in err, err[-3000:]
    assert hidden_files(out) == [] and snapshot(out) == before

