"""The offline Llama 3.1 tokenizer: ids equal tiktoken's with the same ranks, special tokens at their ids, cached.

Set ``DYNAHATE_EXCERPT_CSV`` to a Dynahate CSV (for example the 117-row excerpt of the official file)
to check every post of it too; the project's tests never need it.
"""

from __future__ import annotations

import builtins
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin import llama3_tokenizer as lt
from dynahate.plugin import prompts
from dynahate.testing.cli import SAMPLE_CSV
from dynahate.testing.cli_refusal import sigint_right_after
from dynahate.testing.tokenizers import listed_added_tokens, tokenizer_identity

SAMPLE = SAMPLE_CSV
# Where Llama 3's split pattern and byte-level BPE are easy to get wrong.
EDGE_TEXTS = [
    " leading space", "\nleading newline", "\n\nTwo newlines", "🙂 emoji first", "🏳️‍🌈 a ZWJ sequence",
    "12345 digits", "tab\tand  two spaces  ", "they're we'll I'M", "naïve café", "مرحبا", "漢字かな",
    "a\r\nwindows line", "trailing space ", "", " ", "'s",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tokenizer(cache):
    """Converted from the ranks, not loaded: the cache is empty before it."""
    assert not any(cache.iterdir())
    return lt.llama31_tokenizer(cache)


@pytest.fixture(scope="module")
def tiktoken_encoding():
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(lt.tokenizer_model_path()))
    specials = {token: lt.NUM_BASE_TOKENS + i for i, token in enumerate(lt.llama3_special_tokens())}
    return tiktoken.Encoding("llama3", pat_str=lt.SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


def _csv_texts(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def _assert_same_ids(tokenizer, encoding, texts: list[str], allowed_special: str | set = frozenset()) -> None:
    different = [i for i, text in enumerate(texts) if tokenizer.encode(text, add_special_tokens=False)
                 != encoding.encode(text, allowed_special=allowed_special, disallowed_special=())]
    assert not different, f"rows {different[:10]} tokenize differently"


def test_ids_equal_tiktoken_on_the_sample_the_prompts_and_edge_cases(tokenizer, tiktoken_encoding):
    posts = _csv_texts(SAMPLE) + EDGE_TEXTS
    _assert_same_ids(tokenizer, tiktoken_encoding, posts)
    # the whole training prompt, its header tokens read as the special tokens they are
    _assert_same_ids(tokenizer, tiktoken_encoding, [prompts.build_prompt(post) for post in posts if post.strip()],
                     allowed_special="all")


@pytest.mark.skipif(not os.environ.get("DYNAHATE_EXCERPT_CSV"), reason="DYNAHATE_EXCERPT_CSV not set")
def test_ids_equal_tiktoken_on_the_excerpt(tokenizer, tiktoken_encoding):
    _assert_same_ids(tokenizer, tiktoken_encoding, _csv_texts(Path(os.environ["DYNAHATE_EXCERPT_CSV"])))


def test_llama31_special_tokens_sit_at_their_ids(tokenizer):
    expected = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|reserved_special_token_0|>": 128002,
                "<|reserved_special_token_1|>": 128003, "<|finetune_right_pad_id|>": 128004,
                "<|reserved_special_token_2|>": 128005, "<|start_header_id|>": 128006, "<|end_header_id|>": 128007,
                "<|eom_id|>": 128008, "<|eot_id|>": 128009, "<|python_tag|>": 128010,
                "<|reserved_special_token_3|>": 128011, "<|reserved_special_token_247|>": 128255}
    assert {token: tokenizer.convert_tokens_to_ids(token) for token in expected} == expected
    assert len(tokenizer) == lt.VOCAB_SIZE == 128_256
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (128000, 128009)
    # as Llama 3.1's tokenizer.json: special tokens on encode means <|begin_of_text|> first, nothing after
    assert tokenizer.encode("hello")[0] == 128000 and len(tokenizer.encode("hello")) == 2


@pytest.mark.integration  # two real processes, each converting the 128,000 ranks (~20 s of CPU)
def test_the_conversion_is_cached_and_two_builders_at_once_agree(tmp_path):
    cache = tmp_path / "cache"
    code = ("import sys; from dynahate.plugin.llama3_tokenizer import llama31_tokenizer; "
            "print(llama31_tokenizer(sys.argv[1]).encode('Zorblaxians are people'))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0] and outputs[0] == outputs[1]
    entries = sorted(path.name for path in cache.iterdir())
    assert len(entries) == 1 and entries[0].startswith("llama31-tokenizer-"), entries  # no temporary left
    assert (cache / entries[0] / "tokenizer.json").is_file()
    again = lt.llama31_tokenizer(cache)
    assert str(again.encode("Zorblaxians are people")) == outputs[0].strip()


def test_a_cached_load_lists_the_added_tokens_and_gives_the_tokenizer_it_converted(cache, tokenizer, monkeypatch):
    """The cache's ``tokenizer_config.json`` lists the 256 added tokens as ``tokenizer.json`` does, so transformers
    loads the folder without parsing ``tokenizer.json`` in Python (tokenizers reads it in Rust); what it loads is
    the tokenizer the conversion made."""
    (folder,) = cache.iterdir()
    in_config, in_tokenizer_json = listed_added_tokens(folder)
    assert len(in_tokenizer_json) == 256 and in_config == in_tokenizer_json
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    loaded = lt.llama31_tokenizer(cache)
    monkeypatch.undo()
    assert "tokenizer_config.json" in opened and "tokenizer.json" not in opened, opened
    assert tokenizer_identity(loaded) == tokenizer_identity(tokenizer)
    text = prompts.build_prompt("they're <|eot_id|> 12345 naïve 🙂")
    assert loaded.encode(text) == tokenizer.encode(text) and loaded.decode(loaded.encode(text)) == tokenizer.decode(
        tokenizer.encode(text))


def test_a_signal_while_the_staging_folder_is_made_leaves_nothing_in_the_cache(tokenizer, monkeypatch, tmp_path):
    """SIGINT raised for real the moment the staging folder exists: the interruption reaches the caller, and the cache
    holds nothing, no staging folder either. The conversion is this module's own (its ``tokenizer``, converted by
    the same code), not done a second time."""
    monkeypatch.setattr(lt, "_convert", lambda model_file: tokenizer)
    with sigint_right_after(monkeypatch, tempfile, "mkdtemp"), pytest.raises(KeyboardInterrupt):
        lt.llama31_tokenizer(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_without_llama_models_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(lt, "DISTRIBUTION", "no-such-distribution-here")
    assert lt.tokenizer_model_path() is None
    with pytest.raises(DynahateError, match=r"pip install no-such-distribution-here"):
        lt.llama31_tokenizer(tmp_path)
    assert not any(tmp_path.iterdir())
