"""The served checks on a post, shared by ``/v1/classify`` and chat completions.

In the order they run: the post rule of :mod:`dynahate.plugin.post_rule` (a string, not blank,
valid Unicode: 422), the character limit ``--max-text-chars`` (413, checked before anything is
tokenized), then the prompt's length in tokens against ``--cutoff-len`` (413, the message of
:func:`~dynahate.plugin.post_rule.prompt_length_problem`, the same as eval and predict).
Tokenizing runs on a small thread pool, never on the event loop, so a long post does not hold
up other requests or ``/health``. Messages name the text (``texts[3]``, ``messages[0]``, also the error's
``param``) and never quote it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dynahate.plugin import prompts
from dynahate.plugin.post_rule import post_problem, prompt_length_problem
from dynahate.serve.guard import RequestGuard, ServeError

T = TypeVar("T")

# The default --max-text-chars is this many characters per token of --cutoff-len (see serve_cli).
CHARS_PER_TOKEN_LIMIT = 32


def default_max_text_chars(cutoff_len: int) -> int:
    return CHARS_PER_TOKEN_LIMIT * cutoff_len


class PostChecks:
    def __init__(self, tokenizer: Any, cutoff_len: int, max_text_chars: int, threads: int = 2):
        self.tokenizer = tokenizer
        self.cutoff_len = cutoff_len
        self.max_text_chars = max_text_chars
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dynahate-tokenize")

    def check_text(self, where: str, text: Any, post: bool = True) -> None:
        """422 for a text that breaks the post rule, 413 for one over ``--max-text-chars``.

        ``post=False`` is for the other texts of a chat (system prompt, earlier answers, tools):
        they may be blank, but must be valid Unicode and within the character limit.
        """
        problem = post_problem(text) if post or (isinstance(text, str) and text.strip()) else None
        if problem:
            raise ServeError(422, f"{where} {problem}", param=where)
        if isinstance(text, str) and len(text) > self.max_text_chars:
            raise ServeError(413, f"{where} has {len(text)} characters, over the limit of {self.max_text_chars} "
                                  "characters per text (--max-text-chars)", param=where, code="string_above_max_length")

    def check_length(self, where: str, n_tokens: int) -> None:
        problem = prompt_length_problem(n_tokens, self.cutoff_len)
        if problem:
            raise ServeError(413, f"{where} {problem}", param=where, code="context_length_exceeded")

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the tokenizing threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _prompt_lengths(self, posts: list[str], guard: RequestGuard | None) -> list[int]:
        if guard is not None:
            guard.check()  # its turn on the thread came after its client left: no work
        # the batch call encodes with the GIL released; a post is plain text, as the engine encodes it
        return [len(ids) for ids in prompts.encode_prompts(self.tokenizer, posts)]

    async def prompt_lengths(self, posts: list[str], guard: RequestGuard | None = None) -> list[int]:
        """Token count of each post's classification prompt (what the score engine runs).

        :class:`RequestDropped` instead if ``guard`` is dropped by the time a thread takes the work.
        """
        return await self.off_loop(self._prompt_lengths, posts, guard)

    async def check_posts(self, posts: list[str], guard: RequestGuard | None = None, name: str = "texts") -> list[int]:
        """All checks on ``posts`` (named ``name[i]``); returns their prompt lengths."""
        for index, post in enumerate(posts):
            self.check_text(f"{name}[{index}]", post)
        lengths = await self.prompt_lengths(posts, guard)
        for index, length in enumerate(lengths):
            self.check_length(f"{name}[{index}]", length)
        return lengths
