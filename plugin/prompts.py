"""The one prompt builder: the Dynahate instruction, system prompt and Llama 3 chat layout.

The prompt texts live in ``dynahate_instruction_prompt.txt`` and ``dynahate_system_prompt.txt``
beside this module; everything (prepare, eval, predict, serve, the model card) reads them from
here. The layout reproduces what LLaMA-Factory's ``llama3`` template renders for an alpaca
record: the instruction and the post are joined with a newline into one user turn, the system
prompt is the system turn, and the label followed by ``<|eot_id|>`` is the assistant turn.
Tests prove token-level parity with LLaMA-Factory's own template.

At inference a post is plain text: :func:`encode_prompt` encodes the user turn with the
tokenizer's ``encode_special_tokens`` on (a private copy of its backend, so no other caller of
the shared tokenizer is affected), so a post that spells ``<|eot_id|>`` or
``<|start_header_id|>`` gets the ids of those characters, never the control tokens, while the
template's own special tokens stay special. A special token splits a text before it is
pre-tokenized, so for any post without such a spelling the ids are the training prompt's.
LLaMA-Factory's training encoding does parse them; ``prepare`` counts the posts that hold one.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def _read_prompt(name: str) -> str:
    return resources.files(cast(str, __package__)).joinpath(name).read_text(encoding="utf-8")


INSTRUCTION_FILE = "dynahate_instruction_prompt.txt"
SYSTEM_FILE = "dynahate_system_prompt.txt"
INSTRUCTION: str = _read_prompt(INSTRUCTION_FILE)
SYSTEM_PROMPT: str = _read_prompt(SYSTEM_FILE)

BEGIN_OF_TEXT = "<|begin_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "<|eot_id|>"


def prompt_file_path(name: str):
    """A path-like handle to one of the two prompt files (for copying them next to an adapter)."""
    return resources.files(cast(str, __package__)).joinpath(name)


def make_record(post: str, label: str) -> dict[str, str]:
    """An alpaca record exactly as the original training data: keys in this order."""
    return {"instruction": INSTRUCTION, "input": post, "output": label, "system": SYSTEM_PROMPT}


def user_message(post: str) -> str:
    """The user turn LLaMA-Factory's alpaca converter builds: instruction, newline, post."""
    if not post:
        raise ValueError("a post must be a non-empty string")
    return f"{INSTRUCTION}\n{post}"


def _header(role: str) -> str:
    return f"{START_HEADER}{role}{END_HEADER}\n\n"


def build_prompt(post: str) -> str:
    """The full Llama 3 prompt text, up to and including the assistant header."""
    return (
        BEGIN_OF_TEXT
        + _header("system")
        + SYSTEM_PROMPT
        + EOT
        + _header("user")
        + user_message(post)
        + EOT
        + _header("assistant")
    )


def shared_prefix() -> str:
    """The part of every prompt before the post: identical for all posts (cacheable)."""
    return build_prompt("\x00").split("\x00", 1)[0]


def label_completion(label: str) -> str:
    """What the assistant turn holds for a label in training: the label then ``<|eot_id|>``."""
    return f"{label}{EOT}"


def encode_prompt(tokenizer: PreTrainedTokenizerBase, post: str) -> list[int]:
    """Token ids of :func:`build_prompt`, none added: the template's special tokens as such, and the user turn
    (instruction and post) as plain text, where a special token's spelling is never the control token."""
    return encode_prompts(tokenizer, [post])[0]


def encode_prompts(tokenizer: PreTrainedTokenizerBase, posts: list[str]) -> list[list[int]]:
    """:func:`encode_prompt` of each post, the posts encoded in one batch call (a fast tokenizer's releases the GIL)."""
    plain, head, tail = _encoders(tokenizer)
    return [head + ids + tail for ids in plain(["\n\n" + user_message(post) for post in posts])]


# build_prompt(post) == _HEAD + "\n\n" + user_message(post) + _TAIL: the user turn's text lies between two
# special tokens, so encoding it on its own gives the ids encoding the whole prompt gives
_HEAD = BEGIN_OF_TEXT + _header("system") + SYSTEM_PROMPT + EOT + START_HEADER + "user" + END_HEADER
_TAIL = EOT + _header("assistant")
_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _encoders(tokenizer: PreTrainedTokenizerBase) -> tuple[Callable[[list[str]], list[list[int]]], list[int],
                                                            list[int]]:
    """Per tokenizer, kept while it lives: the plain-text encoder, and the ids of ``_HEAD`` and ``_TAIL``."""
    try:
        return _ENCODERS[tokenizer]
    except (KeyError, TypeError):
        pass
    encoders = (_plain_text_encoder(tokenizer), tokenizer.encode(_HEAD, add_special_tokens=False),
                tokenizer.encode(_TAIL, add_special_tokens=False))
    if getattr(tokenizer, "backend_tokenizer", None) is not None:  # a slow one's encoder holds the tokenizer
        try:
            _ENCODERS[tokenizer] = encoders
        except TypeError:  # not weakly referenceable: computed per call
            pass
    return encoders


def _plain_text_encoder(tokenizer: PreTrainedTokenizerBase) -> Callable[[list[str]], list[list[int]]]:
    """Ids of texts with no special token parsed from them (``<|eot_id|>`` becomes the ids of its characters).

    A fast tokenizer's ``split_special_tokens=True`` sets a flag on its shared backend for the call, which a
    concurrent call (serve) may set back; a private copy of the backend with ``encode_special_tokens`` on
    is never changed.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow tokenizer: the flag is an argument of the call
        return lambda texts: [tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
                              for text in texts]
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(backend.to_str())
    plain.no_truncation()
    plain.no_padding()
    plain.encode_special_tokens = True
    return lambda texts: [encoding.ids for encoding in plain.encode_batch(texts, add_special_tokens=False)]


def special_token_spellings() -> re.Pattern:
    """Matches any of Llama 3.1's 256 special tokens spelled in a text (``<|eot_id|>``, reserved ones, ...)."""
    from dynahate.plugin.llama3_tokenizer import llama3_special_tokens

    return re.compile("|".join(map(re.escape, llama3_special_tokens())))


def encode_label(tokenizer: PreTrainedTokenizerBase, label: str) -> list[int]:
    """Token ids of a label's assistant turn, encoded on its own as LLaMA-Factory does."""
    return tokenizer.encode(label_completion(label), add_special_tokens=False)
