"""How chat completions name tokens in ``logprobs`` and the served model, without a model (issue 32, items 6-7)."""

from pathlib import Path

# serve's modules import transformers and LLaMA-Factory: imported in the tests, so that collecting the suite stays fast


def test_a_token_holding_part_of_a_character_has_its_own_bytes(llama31):
    from dynahate.serve.logprobs import TokenTexts

    tokenizer = llama31
    texts = TokenTexts(tokenizer)
    text = "é€🙂 hate<|eot_id|>"
    ids = tokenizer.encode(text, add_special_tokens=False)
    named = [texts.of(token) for token in ids]
    assert b"".join(raw for _, raw in named) == text.encode()  # the bytes join into the text, emoji included
    assert any(token == "\ufffd" or "\ufffd" in token for token, _ in named)  # the emoji's parts decode to U+FFFD
    assert all(raw.decode("utf-8", errors="replace") == token for token, raw in named)
    assert texts.entry(ids[-1], -0.5) == {"token": "<|eot_id|>", "logprob": -0.5, "bytes": list(b"<|eot_id|>")}


def test_the_served_name_is_api_model_name_else_the_hub_repo_else_the_run_folder(tmp_path):
    from dynahate.serve.completions import served_model_name

    run = tmp_path / "my-run"
    assert served_model_name(run, None, environ={}) == "my-run"
    assert served_model_name(Path(str(run) + "/."), None, environ={}) == "my-run"
    assert served_model_name(run, {"repo_id": "someone/dynahate-8b", "revision": None}, environ={}) == \
        "someone/dynahate-8b"
    assert served_model_name(run, {"repo_id": "someone/dynahate-8b"}, environ={"API_MODEL_NAME": "hate"}) == "hate"
