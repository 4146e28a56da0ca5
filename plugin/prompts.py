"""The one prompt builder: the Dynahate instruction, system prompt and Llama 3 chat layout.

The prompt texts live in ``dynahate_instruction_prompt.txt`` and ``dynahate_system_prompt.txt``
beside this module; everything (prepare, eval, predict, serve, the model card) reads them from
here. The layout reproduces what LLaMA-Factory's ``llama3`` template renders for an alpaca
record: the instruction and the post are joined with a newline into one user turn, the system
prompt is the system turn, and the label followed by ``<|eot_id|>`` is the assistant turn.
Tests prove token-level parity with LLaMA-Factory's own template.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def _read_prompt(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


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
    return resources.files(__package__).joinpath(name)


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
    """Token ids of :func:`build_prompt` (special tokens parsed from the text, none added)."""
    return tokenizer.encode(build_prompt(post), add_special_tokens=False)


def encode_label(tokenizer: PreTrainedTokenizerBase, label: str) -> list[int]:
    """Token ids of a label's assistant turn, encoded on its own as LLaMA-Factory does."""
    return tokenizer.encode(label_completion(label), add_special_tokens=False)
