"""The served post rules on LLaMA-Factory's chat completions, and no generation for dropped requests.

:class:`ChatPrecheck` runs on a chat request's body before LLaMA-Factory's route does (it is a
pre-check of :mod:`dynahate.serve.middleware`), so that a streaming request gets its 4xx too:

- every message must be text (the dynahate model reads no images, video or audio: 422);
- every text must be valid Unicode and within ``--max-text-chars``; a user message is a post
  and must also not be blank (:mod:`dynahate.serve.post_checks`, the rule of eval and predict);
- the prompt the ``dynahate`` template builds from the request must fit ``--cutoff-len`` (413):
  it is counted with LLaMA-Factory's own request conversion (``api.chat._process_request``)
  and template encoding (``mm_plugin.process_messages`` then ``Template.encode_oneturn``, as
  the engine's ``_process_args`` does), off the event loop, so the count is the
  ``prompt_tokens`` LLaMA-Factory would report.

Messages name the client's message (``messages[0]``; the system message counts) and never
quote it. A request that LLaMA-Factory itself refuses (bad JSON, roles out of order) is left to
its own answer.

:func:`guard_generation` makes the engine check the request's guard just before it generates
(after waiting its turn for the model): a request whose client has gone or whose deadline
passed is not run.
"""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

from dynahate.serve.guard import RequestGuard, ServeError, current_guard
from dynahate.serve.post_checks import PostChecks

_prechecking = contextvars.ContextVar("dynahate_chat_precheck", default=False)


class _NotFromPrecheck(logging.Filter):
    """With --log-requests, LLaMA-Factory logs each request once: in its route, not in the pre-check too."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _prechecking.get()


class ChatPrecheck:
    def __init__(self, chat_model: Any, checks: PostChecks):
        self.engine = chat_model.engine
        self.checks = checks
        logging.getLogger("llamafactory.api.chat").addFilter(_NotFromPrecheck())

    async def __call__(self, body: bytes) -> None:
        from fastapi import HTTPException
        from llamafactory.api.chat import _process_request
        from llamafactory.api.protocol import ChatCompletionRequest, Role
        from pydantic import ValidationError

        try:  # parsed as FastAPI parses it; what fails here, LLaMA-Factory answers itself
            request = ChatCompletionRequest.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            return
        for i, message in enumerate(request.messages):
            if isinstance(message.content, list):
                for j, part in enumerate(message.content):
                    if part.type != "text":
                        raise ServeError(422, f"messages[{i}].content[{j}] is {part.type}: the dynahate model "
                                              "reads text only")
        offset = 1 if request.messages and request.messages[0].role == Role.SYSTEM else 0
        token = _prechecking.set(True)
        try:
            messages, system, tools, *_ = _process_request(request)  # text only: fetches nothing
        except HTTPException:
            return
        finally:
            _prechecking.reset(token)
        if system is not None:
            self.checks.check_text("messages[0]", system, post=False)
        user_indices = []
        for k, message in enumerate(messages):
            is_post = message["role"] == "user"
            self.checks.check_text(f"messages[{k + offset}]", message["content"], post=is_post)
            if is_post:
                user_indices.append(k + offset)
        if tools is not None:
            self.checks.check_text("tools", tools, post=False)
        length = await self.checks.off_loop(self._prompt_length, messages, system, tools, current_guard.get())
        where = f"messages[{user_indices[-1]}]" if user_indices else "messages"
        self.checks.check_length(where, length)

    def _prompt_length(self, messages: list[dict[str, str]], system: str | None, tools: str | None,
                       guard: RequestGuard | None) -> int:
        if guard is not None:
            guard.check()  # the client left while this waited for a thread: no work
        engine = self.engine
        messages = engine.template.mm_plugin.process_messages(messages, [], [], [], engine.processor)
        prompt_ids, _ = engine.template.encode_oneturn(
            engine.tokenizer, messages + [{"role": "assistant", "content": ""}], system, tools)
        return len(prompt_ids)


def guard_generation(engine: Any) -> None:
    """Make LLaMA-Factory's HF engine skip a request whose guard is dropped, right before generating."""

    def guarded(function):
        def run(*args: Any, **kwargs: Any):
            guard = current_guard.get()  # asyncio.to_thread carries the request's context
            if guard is not None:
                guard.check()
            return function(*args, **kwargs)

        return run

    engine._chat = guarded(engine._chat)
    engine._stream_chat = guarded(engine._stream_chat)
