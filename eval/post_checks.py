"""Apply the one post rule (:mod:`dynahate.plugin.post_rules`) to a batch before any model loads.

Callers pass the posts and a ``where(index)`` function that names a post's origin (``data.jsonl:12
(acl.id X)``, ``TEXT argument 2``); errors name that origin and never quote the post.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dynahate.plugin import prompts
from dynahate.plugin.errors import DynahateError
from dynahate.plugin.post_rules import post_problem, prompt_length_problem


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
