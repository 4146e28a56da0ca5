"""The official ``openai`` client against ``dynahate serve`` on the trained tiny adapter (issue 32, items 6-9).

Over real HTTP, on the server tests/serve/conftest.py starts once: the model list, a plain call, ``logprobs``
(checked against a forward pass of the adapter loaded here, as ``dynahate eval`` loads it), ``p_hate`` read from the
first token's ``top_logprobs`` and its exact relation to ``/v1/classify``'s, a stream with usage,
``max_completion_tokens``, and refusals whose reason the client's exception carries.
"""

import math

import httpx
import openai
import pytest

from dynahate.plugin import prompts
from dynahate.plugin.labels import HATE, LABELS, NOT_HATE
from dynahate.testing.serve_process import MODEL

# one xdist worker for both modules, so the server of tests/serve/conftest.py starts once (tests/conftest.py)
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("served-run")]

SYSTEM_REFUSED = ("messages[0] is a system message: the system prompt the adapter was trained with is built in and "
                  "cannot be replaced; send one message, with role 'user', holding the post")


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server[0]}/v1", api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def user(post):
    return [{"role": "user", "content": post}]


def test_the_model_list_names_the_served_adapter(client, trained_run):
    assert MODEL == trained_run.name  # the run folder's name
    (model,) = client.models.list().data
    assert model.id == MODEL and model.object == "model" and model.owned_by == "local"
    assert model.created == int((trained_run / "adapter_model.safetensors").stat().st_mtime)
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-3.5-turbo")
    assert missing.value.code == "model_not_found"


@pytest.fixture(scope="module")
def tokenizer(trained_run):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(trained_run)


def test_a_plain_call_answers_a_label_under_the_served_name(client, dev_posts, tokenizer):
    answer = client.chat.completions.create(model=MODEL, messages=user(dev_posts[0]))
    (choice,) = answer.choices
    assert answer.object == "chat.completion" and answer.model == MODEL and answer.created > 0
    assert choice.message.content in LABELS and choice.finish_reason == "stop" and choice.logprobs is None
    label_tokens = len(prompts.encode_label(tokenizer, choice.message.content))  # the label and <|eot_id|>
    assert answer.usage.completion_tokens == label_tokens
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + label_tokens


def forward_logprobs(loaded, ids):
    """log_softmax of the adapter's logits at every position of ``ids`` (one plain forward pass, float64)."""
    import torch

    device = next(loaded.model.parameters()).device
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([ids], device=device)).logits[0]
    return logits.double().log_softmax(dim=-1).cpu()


def test_logprobs_are_the_models_own_for_each_token_and_its_alternatives(client, dev_posts, loaded):
    tokenizer = loaded.tokenizer
    for post in dev_posts[:3]:
        answer = client.chat.completions.create(model=MODEL, messages=user(post), logprobs=True, top_logprobs=5)
        (choice,) = answer.choices
        content = choice.logprobs.content
        assert "".join(entry.token for entry in content) == choice.message.content
        assert all(bytes(entry.bytes).decode() == entry.token for entry in content)
        prompt = prompts.encode_prompt(tokenizer, post)
        generated = tokenizer.encode(choice.message.content, add_special_tokens=False)
        assert [tokenizer.decode([token]) for token in generated] == [entry.token for entry in content]
        rows = forward_logprobs(loaded, prompt + generated)
        for step, (token, entry) in enumerate(zip(generated, content, strict=True)):
            row = rows[len(prompt) - 1 + step]
            assert entry.logprob == pytest.approx(float(row[token]), abs=2e-4)
            values, ids = row.topk(5)
            assert [alt.token for alt in entry.top_logprobs] == [tokenizer.decode([i]) for i in ids.tolist()]
            assert [alt.logprob for alt in entry.top_logprobs] == pytest.approx(values.tolist(), abs=2e-4)
            assert entry.top_logprobs[0].token == entry.token  # greedy: the most likely token


def logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def test_p_hate_from_top_logprobs_relates_exactly_to_classify(client, server, dev_posts, loaded):
    """``/v1/classify``'s p_hate compares the two whole labels: logit(p_hate) = L(hate) - L(not hate), L the summed
    log-probs of the label's tokens and <|eot_id|> (the score engine). The first token's top_logprobs give each
    label's first term a(label), and the first-token p_hate has logit a(hate) - a(not hate). So exactly
        logit(classify p_hate) = logit(first-token p_hate) + c(hate) - c(not hate),
    c(label) the log-prob of the rest of the label given its first token (computed here by a forward pass). They
    agree when the rest of each label is certain (c = 0), and not otherwise: both are checked, in log-odds.

    The tiny model spreads what it does not give its answer's first token over many tokens, so the other label's
    first token is mostly not among the 20 listed: its a(label) is then taken from the forward pass, after checking
    that it is indeed below the 20th listed. The answer's own first token is always listed: each post's check
    uses at least one log-prob the server returned."""
    tokenizer = loaded.tokenizer
    label_ids = {label: prompts.encode_label(tokenizer, label) for label in LABELS}
    first_tokens = {label: tokenizer.decode([ids[0]]) for label, ids in label_ids.items()}
    assert first_tokens == {HATE: "h", NOT_HATE: "not"}  # Llama 3: "hate" alone is "h" "ate"; the first tokens differ
    posts = dev_posts[:8]
    served = httpx.post(f"{server[0]}/v1/classify", json={"texts": posts}, timeout=120).json()
    gaps, listed = [], 0
    for post, classified in zip(posts, served, strict=True):
        answer = client.chat.completions.create(model=MODEL, messages=user(post), logprobs=True, top_logprobs=20,
                                                max_completion_tokens=1)
        top = {alt.token: alt.logprob for alt in answer.choices[0].logprobs.content[0].top_logprobs}
        assert answer.choices[0].message.content in top  # the answer's first token is listed
        prompt = prompts.encode_prompt(tokenizer, post)
        first, rest = {}, {}
        for label, ids in label_ids.items():
            rows = forward_logprobs(loaded, prompt + ids[:-1])
            if first_tokens[label] in top:
                first[label] = top[first_tokens[label]]
                listed += 1
            else:
                first[label] = float(rows[len(prompt) - 1][ids[0]])
                assert first[label] < min(top.values()) + 2e-4  # not listed: below the 20th
            rest[label] = sum(float(rows[len(prompt) - 1 + k][ids[k]]) for k in range(1, len(ids)))
        first_logit = first[HATE] - first[NOT_HATE]  # logit of the first-token p_hate
        expected = first_logit + rest[HATE] - rest[NOT_HATE]
        assert logit(classified["p_hate"]) == pytest.approx(expected, abs=2e-3), (first, rest)
        gaps.append(abs(logit(classified["p_hate"]) - first_logit))
    assert listed >= len(posts)  # a server log-prob in every post's check
    assert max(gaps) > 1e-2, gaps  # the rest of the labels matters here: the first token alone is not classify's


def test_a_stream_carries_object_created_logprobs_and_a_last_usage_chunk(client, dev_posts):
    post = dev_posts[1]
    whole = client.chat.completions.create(model=MODEL, messages=user(post), logprobs=True, top_logprobs=2)
    chunks = list(client.chat.completions.create(model=MODEL, messages=user(post), logprobs=True, top_logprobs=2,
                                                 stream=True, stream_options={"include_usage": True}))
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({(chunk.id, chunk.created, chunk.model) for chunk in chunks}) == 1 and chunks[0].model == MODEL
    *answer, last = chunks
    assert last.choices == [] and last.usage == whole.usage
    assert all(chunk.usage is None for chunk in answer)
    assert answer[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in answer) == whole.choices[0].message.content
    streamed = [entry for chunk in answer if chunk.choices[0].logprobs for entry in chunk.choices[0].logprobs.content]
    assert [entry.model_dump() for entry in streamed] == [entry.model_dump()
                                                          for entry in whole.choices[0].logprobs.content]
    assert answer[-1].choices[0].finish_reason == whole.choices[0].finish_reason == "stop"
    no_usage = list(client.chat.completions.create(model=MODEL, messages=user(post), stream=True))
    assert all(chunk.choices and chunk.usage is None for chunk in no_usage)


def test_max_completion_tokens_is_the_token_limit(client, dev_posts):
    answer = client.chat.completions.create(model=MODEL, messages=user(dev_posts[0]), max_completion_tokens=1)
    (choice,) = answer.choices
    assert answer.usage.completion_tokens == 1 and choice.finish_reason == "length"
    assert choice.message.content in ("h", "not")  # the first token of a label


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("extra, error, status, param, code", [
    ({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a post"}]},
     SYSTEM_REFUSED, openai.UnprocessableEntityError, "messages[0]", None),
    ({"model": "gpt-3.5-turbo"},
     f"model 'gpt-3.5-turbo' is not served here: this server serves '{MODEL}' (GET /v1/models); send it as 'model'",
     openai.NotFoundError, "model", "model_not_found"),
    ({"top_logprobs": 21, "logprobs": True}, "'top_logprobs' is 21: it must be 0 to 20",
     openai.UnprocessableEntityError, "top_logprobs", "invalid_value"),
    ({"top_logprobs": 2}, "'top_logprobs' needs 'logprobs': true", openai.UnprocessableEntityError, "top_logprobs",
     "invalid_value"),
])
def test_a_refusal_reaches_the_client_with_its_reason(client, stream, extra, error, status, param, code):
    request = {"model": MODEL, "messages": user("a post"), **extra}
    with pytest.raises(status) as refused:
        client.chat.completions.create(**request, stream=stream)
    assert str(refused.value) == f"Error code: {refused.value.status_code} - {error}"
    assert refused.value.body == {"message": error, "type": "invalid_request_error", "param": param, "code": code}
