"""``dynahate eval --predictions``: LLaMA-Factory's ``predict`` text reaches ``<split>_predictions.jsonl`` as ``raw``
only when it is answer-like (one line, at most 40 characters and 4 words); a longer one, which may quote the post,
is recorded by its length and SHA-256 (issue 33, item 2)."""

from __future__ import annotations

import hashlib
import json

from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import MARKER
from dynahate.testing.records import read_jsonl

QUOTING = f'The post "the {MARKER} next door should leave" is hate speech.'
ANSWERS = ["hate", "Not hate.", " not hate", "I cannot answer that", QUOTING, f"hate\n{MARKER}",
           "hate " + "x" * 40, "a b c d e"]


def test_a_predict_text_that_could_quote_the_post_is_kept_as_its_length_and_hash_only(tmp_path):
    source = tmp_path / "generated_predictions.jsonl"
    source.write_text("".join(json.dumps({"prompt": f"Post: {MARKER}", "predict": answer, "label": "hate"}) + "\n"
                              for answer in ANSWERS), encoding="utf-8")
    out = tmp_path / "out"
    proc = run_main(["eval", "--predictions", source, "--output-dir", out])
    lines = read_jsonl(out / "predictions_predictions.jsonl")
    kept = [line["raw"] for line in lines if "raw" in line]
    assert kept == ["hate", "Not hate.", " not hate", "I cannot answer that"]
    hashed = [line for line in lines if "raw" not in line]
    assert [(line["raw_length"], line["raw_sha256"]) for line in hashed] == [
        (len(answer), hashlib.sha256(answer.encode()).hexdigest()) for answer in ANSWERS[4:]]
    assert [line["pred"] for line in lines[:3]] == ["hate", "not hate", "not hate"]  # as generate mode reads them
    assert MARKER not in proc.stdout + proc.stderr
    for path in out.iterdir():
        if path.suffix in (".json", ".jsonl", ".txt"):
            assert MARKER not in path.read_text(encoding="utf-8"), path


def test_answer_like_is_one_short_line():
    from dynahate.eval.predictions import RAW_MAX_CHARS, answer_like

    assert answer_like("not hate") and answer_like("x" * RAW_MAX_CHARS) and answer_like("hate\n")
    assert not answer_like("x" * (RAW_MAX_CHARS + 1))
    assert not answer_like("hate\r\nnot hate") and not answer_like("hate\u2028x") and not answer_like("a b c d e")
