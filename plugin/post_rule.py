"""The one rule for what a post may be, and its application to a batch: shared by eval, predict and serve.

A post is a string with at least one non-whitespace character, made of valid Unicode (a lone
surrogate such as JSON's ``"\\ud800"`` is refused: no tokenizer or file can hold it). Its prompt
(:func:`dynahate.plugin.prompts.build_prompt`) may be at most ``cutoff_len`` tokens, the
recipe's ``cutoff_len``: LLaMA-Factory truncated longer prompts in training (cutting off the
assistant header), so the adapter never saw one whole. A longer prompt is refused everywhere,
never truncated; a user who wants it scored in full raises the limit explicitly.

The messages never quote the post: callers prefix them with where the post came from
(``data.jsonl:12``, ``texts[3]``). :func:`refuse_invalid_posts` and :func:`refuse_overlong_posts`
apply the rule to a batch before any model loads, with a ``where(index)`` function that names a
post's origin (``data.jsonl:12 (acl.id X)``, ``TEXT argument 2``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.plugin import prompts

DEFAULT_CUTOFF_LEN = 1024  # recipes/dynahate_qlora.yaml's cutoff_len


def post_problem(text: object) -> str | None:
    """Why ``text`` is not a valid post (a phrase to follow its location), or None if it is."""
    if not isinstance(text, str):
        return f"is not a string (got {type(text).__name__})"
    if not text.strip():
        return "is empty or whitespace only" if text else "is empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate (U+{ord(text[exc.start]):04X} at character {exc.start}), "
                "which is not valid Unicode text")
    return None


def prompt_length_problem(n_tokens: int, cutoff_len: int) -> str | None:
    """Why a prompt of ``n_tokens`` is refused under ``cutoff_len``, or None if it fits."""
    if n_tokens > cutoff_len:
        return (f"makes a {n_tokens}-token prompt, over the cutoff of {cutoff_len} tokens the adapter was trained "
                "with (raise --cutoff-len to score it in full)")
    return None


def refuse_invalid_posts(posts: Sequence[object], where: Callable[[int], str]) -> None:
    """The first post that is not a post (empty, whitespace only, not text) is an error naming where it is."""
    for index, post in enumerate(posts):
        problem = post_problem(post)
        if problem:
            raise DynahateError(f"{where(index)}: the post {problem}")


def refuse_overlong_posts(tokenizer: Any, posts: Sequence[str], cutoff_len: int, where: Callable[[int], str]) -> None:
    """Every prompt is tokenized; if any exceeds ``cutoff_len``, the first is named with how many do."""
    lengths = [len(prompts.encode_prompt(tokenizer, post)) for post in posts]
    over = [index for index, length in enumerate(lengths) if length > cutoff_len]
    if over:
        first = over[0]
        raise DynahateError(f"{where(first)}: the post {prompt_length_problem(lengths[first], cutoff_len)}; "
                            f"{len(over)} of {len(posts)} posts exceed it")
