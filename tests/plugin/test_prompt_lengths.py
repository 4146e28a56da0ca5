"""Prompt lengths in tokens for the prepare report: the ids the training prompt really has, honest percentiles."""

from __future__ import annotations

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin.data import prompt_lengths as pl
from dynahate.plugin.prompts import encode_prompt


@pytest.fixture
def tokenizer(llama31):
    return llama31  # the default cache, loaded once per worker for every test that only encodes


def test_lengths_are_the_encoded_training_prompts(tokenizer):
    posts = ["a short post", " starts with a space", "\nstarts with a newline", "🙂 emoji", "42 is a number",
             "word " * 300]
    assert pl.prompt_lengths(tokenizer, posts) == [len(encode_prompt(tokenizer, post)) for post in posts]


def test_summary_uses_nearest_rank_percentiles_and_counts_prompts_over_the_cutoff():
    lengths = list(range(1, 101))  # 1..100
    assert pl.length_summary(lengths, cutoff_len=90) == {
        "prompts": 100, "mean": 50.5, "p50": 50, "p95": 95, "max": 100, "over_cutoff": 10}
    assert pl.length_summary([7], cutoff_len=7) == {
        "prompts": 1, "mean": 7.0, "p50": 7, "p95": 7, "max": 7, "over_cutoff": 0}
    assert pl.length_summary([])["prompts"] == 0


def test_report_names_the_tokenizer_and_the_cutoff(tokenizer):
    report = pl.prompt_length_report(pl.LengthTokenizer("t", tokenizer), {"train": ["a", "b c"], "dev": []}, 30)
    assert report["tokenizer"] == "t" and report["cutoff_len"] == 30
    assert report["splits"]["train"]["prompts"] == 2 and report["splits"]["train"]["over_cutoff"] == 2
    assert report["splits"]["dev"]["prompts"] == 0


def test_tokenizer_choice(tmp_path):
    assert pl.default_tokenizer_name() == pl.OFFLINE  # llama-models is in the test extra
    assert pl.load_length_tokenizer("none") is None
    with pytest.raises(DynahateError, match=r"^--tokenizer '.*nowhere': cannot load it: "):
        pl.load_length_tokenizer(str(tmp_path / "nowhere"))
