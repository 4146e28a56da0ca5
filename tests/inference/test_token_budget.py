"""The token budget: ``auto`` (CPU figure, GPU formula), exact numbers, and out-of-memory batches split in two.

The out-of-memory cases inject a real ``torch.OutOfMemoryError`` from a wrapper around the
engine's batch method (fault injection: this CPU cannot run out of GPU memory); everything
else is the real engine on the trained tiny adapter.
"""

import json

import pytest

from dynahate.core.cli import build_parser
from dynahate.core.errors import DynahateError
from dynahate.inference.score_engine import ScoreEngine
from dynahate.inference.token_budget import (
    AUTO,
    CPU_TOKEN_BUDGET,
    GIB,
    MAX_AUTO_TOKEN_BUDGET,
    MIN_AUTO_TOKEN_BUDGET,
    auto_token_budget,
    bytes_per_token,
    resolve_token_budget,
)
from dynahate.plugin.tiny_model import llama31_8b_config
from dynahate.testing.cli import run_main

MARKER = "Qzzxquorblat"



@pytest.fixture(scope="module")
def llama31_8b():
    """Llama-3.1-8B's shape (transformers' own config class; no weights), built when a test needs it."""
    return llama31_8b_config()


@pytest.fixture(scope="module")
def loaded(loaded_unquantized):
    return loaded_unquantized


# -- resolving the budget --------------------------------------------------------------------------------------------

def test_auto_is_8192_on_cpu_and_a_number_stays_exact(loaded):
    import torch

    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)  # auto is the default
    assert engine.device.type == "cpu"
    assert engine.token_budget == CPU_TOKEN_BUDGET == 8192 and "on CPU" in engine.token_budget_source
    assert resolve_token_budget(AUTO, loaded.model, torch.device("cpu")).tokens == 8192
    exact = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=1234, progress=False)
    assert exact.token_budget == exact.initial_token_budget == 1234 and exact.token_budget_source == "given"
    assert exact.budget_lowered is None
    for bad in (0, -3, "automatic", 2.5):
        with pytest.raises(ValueError):
            ScoreEngine(loaded.model, loaded.tokenizer, token_budget=bad)


def test_gpu_formula_for_the_llama31_8b_shape(llama31_8b):
    kv_cache = 2 * 32 * 8 * 128 * 2  # layers x kv heads x head dim x bf16, keys and values
    activations = (3 * 14336 + 4 * 4096) * 2
    assert kv_cache == 128 * 1024
    assert bytes_per_token(llama31_8b, 2, label_rows_per_token=0) == kv_cache + activations
    per_token = bytes_per_token(llama31_8b)
    assert per_token == kv_cache + activations + 0.1 * 128256 * 10
    # the H200 measurement (old engine, 4-bit): 7.3 GiB peak at budget 8,192, 12.9 GiB at 32,768; the
    # estimate must not be below what a padded token was measured to cost
    measured = (12.9 - 7.3) * GIB / (32768 - 8192)
    assert per_token > measured

    h200, h100, card_24g = (auto_token_budget(free * GIB, llama31_8b) for free in (130, 70, 24))
    print(f"auto budget, Llama-3.1-8B shape: 130 GiB free {h200}, 70 GiB {h100}, 24 GiB {card_24g}")
    assert h200 == MAX_AUTO_TOKEN_BUDGET == 131072
    assert 65536 <= h100 <= MAX_AUTO_TOKEN_BUDGET and h100 % 1024 == 0
    assert 16384 <= card_24g < h100
    for free, budget in ((70, h100), (24, card_24g)):  # with the safety factor the estimate fits what is free
        assert 1.5 * budget * per_token <= 0.9 * free * GIB - 2 * GIB
    assert auto_token_budget(1 * GIB, llama31_8b) == MIN_AUTO_TOKEN_BUDGET
    budgets = [auto_token_budget(free * GIB, llama31_8b) for free in range(2, 140, 4)]
    assert budgets == sorted(budgets)
    # bf16 vs fp32 compute: twice the bytes, half the tokens (before rounding)
    assert bytes_per_token(llama31_8b, 4, 0) == 2 * bytes_per_token(llama31_8b, 2, 0)


# -- out of memory ---------------------------------------------------------------------------------------------------

def inject_oom(engine, fails):
    """Wrap the engine's batch method: ``fails(batch)`` true raises a real torch.OutOfMemoryError."""
    import torch

    real, seen = engine._score_batch, {"ooms": 0, "ran": []}

    def batch_method(batch):
        if fails(batch):
            seen["ooms"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        seen["ran"].append(engine._padded_tokens(batch))
        return real(batch)

    engine._score_batch = batch_method
    return seen


def test_a_batch_out_of_memory_is_split_and_the_budget_kept_lower(loaded, dev_posts, capsys):
    unsplit = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=4096, progress=False)
    expected = unsplit.score(dev_posts)
    engine = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=4096, progress=False)
    limit = 1500  # "memory" for 1,500 padded tokens
    seen = inject_oom(engine, lambda batch: engine._padded_tokens(batch) > limit)
    results = engine.score(dev_posts)
    assert seen["ooms"] >= 1 and max(seen["ran"]) <= limit
    assert engine.batch_count == len(seen["ran"]) > unsplit.batch_count
    worst = max(abs(a.label_logprobs[k] - b.label_logprobs[k]) for a, b in zip(expected, results, strict=False)
                for k in a.label_logprobs)
    assert worst < 1e-4 and [r.pred for r in results] == [r.pred for r in expected]
    assert engine.initial_token_budget == 4096 and engine.token_budget < 4096
    assert engine.budget_lowered == (f"token budget lowered from 4096 to {engine.token_budget} "
                                     "after an out-of-memory batch")
    assert "out of memory on a batch of" in capsys.readouterr().err
    # the lowered budget holds for the rest of the run: the next call batches under it from the start
    lowered, seen["ran"] = engine.token_budget, []
    engine.score(dev_posts[:40])
    assert engine.token_budget <= lowered and max(seen["ran"]) <= lowered


def test_one_post_that_does_not_fit_alone_is_a_clear_error(loaded, dev_posts):
    batch_of = dev_posts[:7] + [f"{MARKER} is a word nobody else uses"] + dev_posts[7:12]
    engine = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=100_000, progress=False)
    seen = inject_oom(engine, lambda batch: any(item.post == 7 for item in batch))
    with pytest.raises(DynahateError) as error:
        engine.score(batch_of)
    message = str(error.value)
    assert message.startswith("post 7 (index in the input, from 0) does not fit in cpu memory on its own")
    assert MARKER not in message and "\n" not in message
    # split in halves down to the post alone: 13 posts -> 7 or 6 -> ... -> 1, four or five out-of-memory batches
    assert 4 <= seen["ooms"] <= 5 and seen["ran"]


# -- the CLIs --------------------------------------------------------------------------------------------------------

def test_predict_prints_the_resolved_budget_and_keeps_a_given_one(trained_run):
    texts = ["the Drellans next door brought us soup", "we should welcome the Drellans"]
    auto = run_main(["predict", "--adapter", str(trained_run), *texts])
    assert "score: 2 posts in 1 batches, token budget 8192 (auto: 8192 on CPU)" in auto.stderr
    given = run_main(["predict", "--adapter", str(trained_run), "--token-budget", "64", *texts])
    assert "score: 2 posts in 2 batches, token budget 64 (given)" in given.stderr
    labels = [[json.loads(line)["label"] for line in proc.stdout.splitlines()] for proc in (auto, given)]
    assert labels[0] == labels[1] and len(labels[0]) == 2


@pytest.mark.parametrize("command", ["eval", "predict", "serve"])
def test_token_budget_option_takes_auto_or_a_positive_integer(tmp_path, command, capsys):
    base = [command, "--adapter", str(tmp_path / "no-run")] + (["a post"] if command == "predict" else [])
    parser = build_parser()  # the CLI's own parser: every value; the command's main once each way below
    for value in ("abc", "0", "-5", "1.5"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*base, "--token-budget", value])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
            f"argument --token-budget: must be 'auto' or a positive integer, got '{value}'")
    assert [parser.parse_args([*base, "--token-budget", v]).token_budget for v in ("auto", "AUTO", "4096")] \
        == ["auto", "auto", 4096]
    proc = run_main([*base, "--token-budget", "0"], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "argument --token-budget: must be 'auto' or a positive integer, got '0'"), proc.stderr
    help_text = " ".join(run_main([*base[:1], "--help"]).stdout.split())
    assert "--token-budget N|auto" in help_text and "(default auto: on a GPU from the memory free" in help_text
    proc = run_main([*base, "--token-budget", "AUTO"], check=False)  # accepted: the run then fails on the adapter
    assert proc.returncode == 2 and "run directory not found" in proc.stderr, proc.stderr
