"""``torchrun --nproc-per-node 2 --no-python dynahate eval`` on CPU (gloo): the same files as one process.

Each rank scores its shard of the dev split on its own copy of the tiny trained adapter; rank 0
gathers and writes. Predictions, metrics and the set of files must equal a one-process run's.
"""

from __future__ import annotations

import os
import re

import pytest

from dynahate.core.errors import DynahateError
from dynahate.eval.distributed import Ranks, from_environment
from dynahate.testing.cli import REPO, cli_path, run_cli
from dynahate.testing.records import read_jsonl, recorded_splits

TIMING_KEYS = {"seconds", "examples_per_second"}


def torchrun(nproc: int, args: list[str], check: bool = True):
    return run_cli(["torchrun", "--standalone", f"--nproc-per-node={nproc}", "--no-python",
                    cli_path("dynahate"), *args], check=check, timeout=600, env={"OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def one_and_two(trained_run, prepared_data, score_eval, tmp_path_factory):
    """One process's evaluation (the session's, dev and test) and two ranks' of the dev split."""
    common = ["eval", "--adapter", str(trained_run), "--data-dir", str(prepared_data), "--split", "dev"]
    two = tmp_path_factory.mktemp("two_ranks")
    proc = torchrun(2, [*common, "--output-dir", str(two)])
    return score_eval[0], two, proc


def test_two_ranks_write_the_predictions_of_one_process(one_and_two):
    one, two, _ = one_and_two
    single, shared = read_jsonl(one / "dev_predictions.jsonl"), read_jsonl(two / "dev_predictions.jsonl")
    assert len(single) == len(shared) > 2
    for a, b in zip(single, shared, strict=False):
        assert (a["id"], a["gold"], a["pred"]) == (b["id"], b["gold"], b["pred"])
        assert abs(a["p_hate"] - b["p_hate"]) < 1e-6


def test_two_ranks_write_the_results_of_one_process_and_one_set_of_files(one_and_two):
    one, two, _ = one_and_two
    one_dev = [p.name for p in one.iterdir() if not p.name.startswith("test_")]  # one process also did test
    assert sorted(one_dev) == sorted(p.name for p in two.iterdir())
    assert recorded_splits(two).keys() == {"dev"}
    single = recorded_splits(one)["dev"]
    shared = recorded_splits(two)["dev"]
    assert shared["seconds"] > 0
    assert {k: v for k, v in single.items() if k not in TIMING_KEYS} == \
        {k: v for k, v in shared.items() if k not in TIMING_KEYS}


def test_only_rank_zero_prints(one_and_two):
    proc = one_and_two[2]
    assert proc.stdout.count("loaded ") == 1 and "2 processes" in proc.stdout
    assert proc.stdout.count("wrote ") == 1
    assert proc.stdout.count("dev (score,") == 1


def test_an_error_on_every_rank_is_one_line_and_nothing_is_written(trained_run, prepared_data, tmp_path):
    data = tmp_path / "broken.jsonl"
    data.write_text('{"input": "x", "output": "hate"}\n{"input": "y"}\n')
    out = tmp_path / "out"
    proc = torchrun(2, ["eval", "--adapter", str(trained_run), "--data", str(data), "--output-dir", str(out)],
                    check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(data) in errors[0], proc.stderr[-3000:]
    ours = [f for f in re.findall(r'File "([^"]+)"', proc.stderr) if f.startswith(str(REPO)) and "/.venv/" not in f]
    assert not ours, proc.stderr[-3000:]  # torchrun's own report of the failed child, no traceback of ours
    assert not out.exists()


@pytest.mark.parametrize("count,world", [(0, 2), (1, 2), (7, 2), (7, 3), (4120, 8), (5, 8)])
def test_shards_tile_the_posts_in_rank_order(count, world):
    shards = [Ranks(rank, world).shard(count) for rank in range(world)]
    assert [i for shard in shards for i in shard] == list(range(count))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert from_environment() == Ranks() and not from_environment().distributed
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(DynahateError, match="RANK in 0..3"):
        from_environment()
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert from_environment() == Ranks(2, 4, 0)
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(DynahateError, match="WORLD_SIZE"):
        from_environment()
    assert os.environ["RANK"] == "2"


AGREE_SCRIPT = '''
from dynahate.eval.distributed import from_environment, process_group
from dynahate.core.errors import DynahateError

def step():
    if ranks.rank == 1:
        raise DynahateError("rank 1 could not do it")
    return "fine"

ranks = from_environment()
with process_group(ranks):
    print("before", ranks.rank, flush=True)
    print("value", ranks.agree(step), flush=True)
'''


@pytest.mark.integration  # two real torchrun ranks: slow, outside the fast loop
def test_an_error_on_one_rank_only_ends_every_rank_with_its_one_line(tmp_path):
    script = tmp_path / "agree.py"
    script.write_text(AGREE_SCRIPT)
    proc = run_cli(["torchrun", "--standalone", "--nproc-per-node=2", str(script)], check=False, timeout=300,
                   env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0 and "exitcode  : 2" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: rank 1 could not do it"], proc.stderr[-3000:]
    assert "value" not in proc.stdout  # rank 0 did not go on
    assert proc.stdout.count("before") == 1  # rank 1 prints nothing on stdout
    # what docs/commands/eval.md says torchrun adds: its own report of the failed child after our line, and exit 1
    assert proc.returncode == 1 and "ChildFailedError" in proc.stderr.split(errors[0], 1)[1], proc.stderr[-3000:]
    page = " ".join((REPO / "docs" / "commands" / "eval.md").read_text(encoding="utf-8").split())
    assert ("torchrun then prints its own report of the failed rank after it (a `ChildFailedError` traceback with "
            "`exitcode : 2`) and exits 1") in page
