"""Where a command writes is checked before the work, in one line: a folder under a file, or one that takes no file
whatever its permission bits say (``/proc``, ``/sys``: root passes every ``os.access`` check there), is refused by
``predict --output``, ``eval --output-dir`` and ``publish --stage-dir`` before anything loads or is written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from dynahate.core.errors import DynahateError
from dynahate.core.output_paths import check_output_dir, check_output_file
from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import assert_refused, sigint_right_after, snapshot, temp_files

needs_proc = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")


@needs_proc
@pytest.mark.parametrize("check, path, needle", [
    (check_output_file, "/proc/out.jsonl", "--o /proc/out.jsonl: cannot write it, /proc takes no new file"),
    (check_output_dir, "/proc/results", "--o /proc/results: cannot create it, /proc takes no new file"),
    (check_output_dir, "/proc", "--o /proc: directory takes no new file"),
    (check_output_file, "/proc/self/out.jsonl", "--o /proc/self/out.jsonl: cannot write it, /proc/self"),
])
def test_a_folder_that_takes_no_file_is_refused_whatever_its_mode(check, path, needle):
    with pytest.raises(DynahateError) as refused:
        check(Path(path), "--o")
    assert str(refused.value).startswith(needle) and "\n" not in str(refused.value)


def test_the_check_leaves_nothing_behind(tmp_path):
    check_output_file(tmp_path / "new" / "out.jsonl", "--o")
    check_output_dir(tmp_path, "--o")
    assert list(tmp_path.iterdir()) == []


@needs_proc
def test_predict_refuses_an_output_under_proc_before_anything_loads(made_up_run):
    root, run, _, posts = made_up_run
    proc = run_main(["predict", "--adapter", run, "--input", posts, "--output", "/proc/predictions.jsonl"],
                    check=False)
    line = assert_refused(proc, "--output /proc/predictions.jsonl: cannot write it, /proc takes no new file")
    assert "tokenizer" not in line  # the made-up base's tokenizer is never reached


@needs_proc
def test_eval_refuses_an_output_dir_under_a_file_or_proc(tmp_path):
    predictions = tmp_path / "generated_predictions.jsonl"
    predictions.write_text('{"prompt": "p", "predict": "hate", "label": "hate"}\n')
    blocker = tmp_path / "somefile"
    blocker.write_text("mine\n")
    before = snapshot(tmp_path)
    for out, needle in [(blocker / "out", f"cannot create it, {blocker} is a file, not a directory"),
                        (Path("/proc/eval"), "--output-dir /proc/eval: cannot create it, /proc takes no new file"),
                        (Path("/proc"), "--output-dir /proc: directory takes no new file")]:
        assert_refused(run_main(["eval", "--predictions", predictions, "--output-dir", out], check=False), needle)
    assert snapshot(tmp_path) == before and not temp_files(tmp_path)


@needs_proc
def test_publish_stage_dir_under_a_file_or_proc_is_refused_by_its_check(tmp_path):
    from dynahate.publish.staging import check_stage_dir

    run, blocker = tmp_path / "run", tmp_path / "somefile"
    run.mkdir()
    blocker.write_text("mine\n")
    for stage, needle in [(blocker / "hub", f"--stage-dir {blocker / 'hub'}: cannot create it, {blocker} is a file"),
                          (Path("/proc/hub"), "--stage-dir /proc/hub: cannot create it, /proc takes no new file")]:
        with pytest.raises(DynahateError, match=needle.replace("(", r"\(")):
            check_stage_dir(stage, run_dir=run, protected={})


@pytest.mark.parametrize("check, target", [(check_output_dir, "."), (check_output_file, "new/out.jsonl")])
def test_a_signal_while_the_check_s_file_exists_leaves_nothing_behind(tmp_path, monkeypatch, check, target):
    """SIGINT raised for real the moment the check's temporary file has been created (as a Ctrl-C could land):
    the interruption still reaches the caller, after the file is gone. (Found by the SIGTERM test of
    tests/plugin/test_prepare_adversarial.py, which a signal landing there failed once in a few runs.)"""
    with sigint_right_after(monkeypatch, tempfile, "mkstemp"), pytest.raises(KeyboardInterrupt):
        check(tmp_path / target, "--o")
    assert list(tmp_path.iterdir()) == []
