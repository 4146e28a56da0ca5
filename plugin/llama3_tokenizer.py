"""Llama 3.1's tokenizer, built offline from the BPE ranks Meta ships in the ``llama-models`` package.

Meta-Llama-3.1-8B-Instruct is gated, but its tokenizer's 128,000 BPE ranks are published openly as
``llama_models/llama3/tokenizer.model`` in Meta's ``llama-models`` distribution on PyPI (the same
ranks serve Llama 3, 3.1, 3.2 and 3.3). This module reads that file through the distribution's file
list (``llama_models``' own code is never imported) and lets transformers' ``TikTokenConverter``
turn it into a fast tokenizer with Llama 3's split pattern and its 256 special tokens at ids
128000-128255, ``<|eot_id|>`` as eos, as the Instruct model's ``tokenizer.json`` has them. The
conversion takes seconds, so its result is cached, keyed by the file's SHA-256. :func:`save_tokenizer` writes
it, and the tiny model's copy, with the added tokens listed in ``tokenizer_config.json``, so that each load is
transformers' short one.

It is for the demo, the tests and the benchmarks (the tiny model speaks it). A real run uses the base
model's own tokenizer, which LLaMA-Factory saves into the run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import cast

from dynahate.core.atomic import atomic_write_text, temporary_folder
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import read_json

DISTRIBUTION = "llama-models"
TOKENIZER_MODEL = "llama_models/llama3/tokenizer.model"
NUM_BASE_TOKENS = 128_000
VOCAB_SIZE = 128_256
CACHE_ENV = "DYNAHATE_CACHE"

# Llama 3's pre-tokenizer rule (contractions, letters, 1-3 digits, punctuation runs, newlines, spaces).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The named special tokens of Llama 3.1, by offset from 128000; the others are reserved, numbered in order.
_NAMED_SPECIALS = {
    0: "<|begin_of_text|>",
    1: "<|end_of_text|>",
    4: "<|finetune_right_pad_id|>",
    6: "<|start_header_id|>",
    7: "<|end_header_id|>",
    8: "<|eom_id|>",
    9: "<|eot_id|>",
    10: "<|python_tag|>",
}

# A plain Llama 3 chat template (no tools, no date block), so that apply_chat_template works in tests.
# The Instruct model's own template adds a date block to the system turn; the project never uses it
# to build the training prompt (see dynahate.plugin.prompts).
_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def llama3_special_tokens() -> list[str]:
    """The 256 special tokens of the Llama 3.1 tokenizer in id order (ids 128000..128255)."""
    tokens, reserved = [], 0
    for offset in range(VOCAB_SIZE - NUM_BASE_TOKENS):
        if offset in _NAMED_SPECIALS:
            tokens.append(_NAMED_SPECIALS[offset])
        else:
            tokens.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    return tokens


def tokenizer_model_path() -> Path | None:
    """Where the installed ``llama-models`` keeps Llama 3's ``tokenizer.model``; None if it is not installed."""
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.as_posix() == TOKENIZER_MODEL:
            path = Path(cast(Path, dist.locate_file(file)))  # typed as importlib's _SimplePath; a Path here
            return path if path.is_file() else None
    return None


def default_cache_dir() -> Path:
    """``$DYNAHATE_CACHE``, else ``$XDG_CACHE_HOME/dynahate``, else ``~/.cache/dynahate``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dynahate"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _convert(model_file: Path):
    """The fast tokenizer built from the ranks file (seconds)."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    specials = llama3_special_tokens()
    backend = TikTokenConverter(vocab_file=str(model_file), pattern=SPLIT_PATTERN,
                                extra_special_tokens=specials).converted()
    if backend.get_vocab_size() != VOCAB_SIZE or backend.token_to_id(specials[0]) != NUM_BASE_TOKENS:
        raise DynahateError(f"{model_file}: expected {NUM_BASE_TOKENS:,} BPE ranks (Llama 3), got "
                            f"{backend.get_vocab_size() - len(specials):,}")
    # As Llama 3.1's tokenizer.json: encode() with special tokens prepends <|begin_of_text|>.
    bos = specials[0]
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                      special_tokens=[(bos, NUM_BASE_TOKENS)]),
    ])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token="<|eot_id|>",
        chat_template=_CHAT_TEMPLATE,
        model_max_length=131072,
        clean_up_tokenization_spaces=True,
    )


def save_tokenizer(tokenizer, folder: Path) -> None:
    """``tokenizer.save_pretrained(folder)``, with the added tokens also in ``tokenizer_config.json``.

    transformers 4 wrote them there as ``added_tokens_decoder``, and Meta's own ``tokenizer_config.json`` for
    Llama 3.1 has them; transformers 5 leaves them out for a tokenizers-backed tokenizer, and a folder without
    them is loaded by its legacy path, which parses the whole 17 MB ``tokenizer.json`` in Python a second time
    to find them. With them, a load takes about a quarter less time and gives the same tokenizer
    (``benchmarks/tokenizer_load.py``). The entries are the tokenizer's own, as ``tokenizer.json`` lists them.
    """
    tokenizer.save_pretrained(folder)
    config_file = Path(folder) / "tokenizer_config.json"
    config = read_json(config_file, "the tokenizer config transformers just wrote")
    config["added_tokens_decoder"] = {
        str(index): token.__getstate__() for index, token in sorted(tokenizer.added_tokens_decoder.items())
    }
    atomic_write_text(config_file, json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False,
                                              allow_nan=False) + "\n")


def llama31_tokenizer(cache_dir: str | Path | None = None):
    """Llama 3.1's tokenizer from ``llama-models``' ranks, converted once and then loaded from the cache.

    Args:
        cache_dir: Where converted tokenizers are kept; default :func:`default_cache_dir`.

    Returns:
        A ``PreTrainedTokenizerFast`` with 128,256 tokens, bos ``<|begin_of_text|>``, eos ``<|eot_id|>``.

    Raises:
        DynahateError: ``llama-models`` is not installed, or its file is not Llama 3's 128,000 ranks.
    """
    from transformers import PreTrainedTokenizerFast

    model_file = tokenizer_model_path()
    if model_file is None:
        raise DynahateError(f"the offline Llama 3.1 tokenizer needs Meta's {DISTRIBUTION!r} package "
                            f"(it ships {TOKENIZER_MODEL}): pip install {DISTRIBUTION}")
    cached = Path(cache_dir or default_cache_dir()) / f"llama31-tokenizer-{_sha256(model_file)[:16]}"
    if (cached / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(cached)
    tokenizer = _convert(model_file)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with temporary_folder(cached.parent, f".{cached.name}.") as staging:
        save_tokenizer(tokenizer, staging)
        try:
            staging.rename(cached)  # atomic; a concurrent builder that got there first wins
        except OSError:
            if not (cached / "tokenizer.json").is_file():
                raise
    return tokenizer
