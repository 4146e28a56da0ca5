"""Saved and loaded tokenizers compared: what makes two loads the same tokenizer, and a folder's added tokens as its
``tokenizer_config.json`` and its ``tokenizer.json`` each list them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def tokenizer_identity(tokenizer) -> dict[str, Any]:
    """What two loads of one tokenizer share: the backend's whole serialization (its SHA-256, so that a difference
    is not a 17 MB diff), every added token with its flags, the special tokens, the chat template and the length."""
    return {
        "backend_sha256": hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest(),
        "added_tokens": {index: token.__getstate__() for index, token in tokenizer.added_tokens_decoder.items()},
        "special_tokens": tokenizer.special_tokens_map,
        "chat_template": tokenizer.chat_template,
        "model_max_length": tokenizer.model_max_length,
    }


def listed_added_tokens(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``tokenizer_config.json``'s ``added_tokens_decoder``, ``tokenizer.json``'s ``added_tokens`` keyed the same
    way: by id as a string, the id left out of each entry); a folder saved with
    :func:`dynahate.plugin.llama3_tokenizer.save_tokenizer` has the two equal."""
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    listed = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["added_tokens"]
    return config.get("added_tokens_decoder", {}), {str(entry.pop("id")): entry for entry in listed}
