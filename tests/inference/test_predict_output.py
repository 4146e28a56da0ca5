"""``predict --output`` is never one of the run's inputs: the posts file, a file of the adapter's run directory,
or anything inside a local base model's folder; refused in one line before anything is read or written.

The run is made up (`made_up_run` of tests/conftest.py): the refusal comes before any tokenizer or
model loads, and a path that is not refused goes on to fail at the tokenizer of the empty base folder.
"""

from __future__ import annotations

import os

import pytest

from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot


def predict(run, *args):
    return run_main(["predict", "--adapter", str(run), *map(str, args)], check=False)


def test_an_output_that_is_an_input_of_the_run_is_refused_and_nothing_changes(made_up_run):
    root, run, base, posts = made_up_run
    link = root / "link.jsonl"
    os.symlink(run / "adapter_config.json", link)
    hard = root / "hard.txt"
    os.link(posts, hard)
    before = snapshot(root)
    cases = [
        (["--input", posts, "--output", posts], [f"--output {posts}: would overwrite {posts}", "this prediction"]),
        (["--input", posts, "--output", hard], [f"--output {hard}: would overwrite {posts}"]),
        (["--output", run / "adapter_model.safetensors", "a post"], ["would overwrite a file of", str(run)]),
        (["--output", run / "trainer_state.json", "a post"], ["would overwrite a file of", str(run)]),
        (["--output", link, "a post"], [f"--output {link}: would overwrite a file of {run}"]),
        (["--output", base / "predictions.jsonl", "a post"], [f"is inside {base}", "this prediction reads"]),
        (["--base", base, "--output", base / "config.json", "a post"], [f"is inside {base}"]),
    ]
    for args, needles in cases:
        assert_refused(predict(run, *args), *needles)
    assert snapshot(root) == before


@pytest.mark.parametrize("where", ["new file in the run directory", "elsewhere"])
def test_an_output_that_is_no_input_is_not_refused_by_that_check(made_up_run, where):
    root, run, _, posts = made_up_run
    out = run / "predictions.jsonl" if where.startswith("new") else root / "out" / "p.jsonl"
    proc = predict(run, "--input", posts, "--output", out)
    assert proc.returncode != 0 and "would overwrite" not in proc.stderr and "is inside" not in proc.stderr
    assert not out.exists()
