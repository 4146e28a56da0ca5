"""Score mode against an unbatched reference, on the trained tiny adapter (4-bit and unquantized)."""

import json

import pytest
import torch

from dynahate.eval.model_loading import load_adapter_model
from dynahate.eval.score_engine import ScoreEngine
from dynahate.plugin import prompts


@pytest.fixture(scope="module", params=[True, False], ids=["4bit", "unquantized"])
def loaded(request, trained_run):
    return load_adapter_model(trained_run, quantize=request.param)


@pytest.fixture(scope="module")
def posts(prepared_data):
    return [json.loads(line)["input"] for line in (prepared_data / "dynahate_dev.jsonl").read_text().splitlines()]


def reference_logprob(model, tokenizer, post: str, label: str) -> float:
    """One full forward pass over prompt + label, no cache, no batching."""
    prompt, label_ids = prompts.encode_prompt(tokenizer, post), prompts.encode_label(tokenizer, label)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + label_ids])).logits[0].float().log_softmax(-1)
    return sum(logits[len(prompt) + k - 1, token].item() for k, token in enumerate(label_ids))


def test_equals_unbatched_reference(loaded, posts):
    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)
    results = engine.score(posts)
    assert engine.fallbacks == 0
    for post, result in zip(posts[:24], results[:24]):
        for label in ("hate", "not hate"):
            assert result.label_logprobs[label] == pytest.approx(
                reference_logprob(loaded.model, loaded.tokenizer, post, label), abs=1e-4)
        assert result.p_hate == pytest.approx(sum(result.probabilities.values()) - result.probabilities["not hate"])


def test_independent_of_batching_and_order(loaded, posts):
    full = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=100_000, progress=False).score(posts)
    tiny_batches = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=64, progress=False).score(posts)
    reversed_order = ScoreEngine(loaded.model, loaded.tokenizer, progress=False).score(posts[::-1])[::-1]
    worst = max(abs(a.label_logprobs[k] - other.label_logprobs[k])
                for a, b, c in zip(full, tiny_batches, reversed_order) for other in (b, c) for k in a.label_logprobs)
    worst_p = max(abs(a.p_hate - other.p_hate) for a, b, c in zip(full, tiny_batches, reversed_order) for other in (b, c))
    print(f"max |difference| across batchings: log-prob {worst:.2e}, p_hate {worst_p:.2e}")
    assert worst < 1e-4 and worst_p < 1e-4


def test_labels_sharing_their_first_tokens(loaded, posts):
    labels = ("not hate", "not sure", "hate")
    ids = [prompts.encode_label(loaded.tokenizer, label) for label in labels]
    assert ids[0][0] == ids[1][0]  # 'not' is the first token of two labels
    results = ScoreEngine(loaded.model, loaded.tokenizer, labels=labels, progress=False).score(posts[:6])
    for post, result in zip(posts[:6], results):
        for label in labels:
            assert result.label_logprobs[label] == pytest.approx(
                reference_logprob(loaded.model, loaded.tokenizer, post, label), abs=1e-4)
        assert sum(result.probabilities.values()) == pytest.approx(1.0)


def test_a_post_that_breaks_the_prefix_falls_back_and_stays_exact(loaded):
    # The prompt prefix ends with "Post:\n"; a post that starts with a newline lets the BPE merge
    # "\n\n" into one token across the boundary, so the cached prefix ids do not match.
    post = "\nDrellans are lovely neighbours"
    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)
    ids = prompts.encode_prompt(loaded.tokenizer, post)
    assert ids[: len(engine.prefix_ids)] != engine.prefix_ids
    mixed = engine.score([post, "Drellans are lovely neighbours"])
    assert engine.fallbacks == 1
    for label in ("hate", "not hate"):
        assert mixed[0].label_logprobs[label] == pytest.approx(
            reference_logprob(loaded.model, loaded.tokenizer, post, label), abs=1e-4)


def test_empty_input_and_bad_labels(loaded):
    assert ScoreEngine(loaded.model, loaded.tokenizer, progress=False).score([]) == []
    with pytest.raises(ValueError):
        ScoreEngine(loaded.model, loaded.tokenizer, labels=("hate", "hate"))
