"""Chat completions on the dynahate model: one post per request, encoded as ``/v1/classify`` encodes it.

The model was trained on one prompt: the built-in system prompt, one user turn (the instruction
and the post), the assistant's label. So chat takes exactly that: one message, with role ``user``,
whose text is the post. :class:`ChatPrecheck` runs on a chat request's body before LLaMA-Factory's
route does (it is a pre-check of :mod:`dynahate.serve.middleware`), so that a streaming request gets
its 4xx too, and refuses with 422:

- no message, more than one, a ``system`` message (it would replace the trained system prompt), and
  any role but ``user`` (``assistant``, ``tool``, ``function``, unknown ones);
- ``tools`` or ``tool_calls`` (they would be written into the system or an assistant turn);
- ``stream`` with ``n`` other than 1 (LLaMA-Factory refuses it only once the stream has started);
- a content part that is not text (the dynahate model reads no images, video or audio) or has no text;

then checks the post as ``/v1/classify`` does (:meth:`~dynahate.serve.post_checks.PostChecks.check_posts`:
the post rule, ``--max-text-chars``, the prompt's length against ``--cutoff-len``, counted off the
event loop). Messages name the message (``messages[0]``) and never quote it; a role is named only
when :func:`~dynahate.core.describe.shown`. A body that is not JSON or not the request's shape is left
to FastAPI's validation (422 in the app).

:func:`plain_text_posts` makes the engine encode the post with
:func:`dynahate.plugin.prompts.encode_prompt`, as plain text: a post that spells ``<|eot_id|>`` or
``<|start_header_id|>`` gets the ids of those characters, never the control tokens, while the
template's own special tokens stay special. For any other post the ids are the ``dynahate``
template's, so ``prompt_tokens`` is the count the pre-check made.

:func:`guard_generation` makes the engine check the request's guard just before it generates
(after waiting its turn for the model): a request whose client has gone or whose deadline
passed is not run.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from dynahate.core.describe import describe_value
from dynahate.plugin import prompts
from dynahate.serve.guard import ServeError, current_guard
from dynahate.serve.post_checks import PostChecks

ONE_POST = "send one message, with role 'user', holding the post"


def _refuse_messages(messages: list[Any]) -> None:
    """422 unless ``messages`` (the body's JSON) is one message whose role is ``user`` or not yet validated."""
    if not messages:
        raise ServeError(422, f"'messages' is empty: {ONE_POST}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or message["role"] == "user":
            continue  # a missing or malformed message is FastAPI's validation error
        role = message["role"]
        if role == "system":
            raise ServeError(422, f"messages[{index}] is a system message: the system prompt the adapter was trained "
                                  f"with is built in and cannot be replaced; {ONE_POST}")
        raise ServeError(422, f"messages[{index}] has role {describe_value(role)}: {ONE_POST}")
    if len(messages) > 1:
        raise ServeError(422, f"{len(messages)} messages: {ONE_POST} (a request classifies one post, with no "
                              "history; /v1/classify takes many)")


def _post_text(message: Any) -> str:
    """The text of the one user message (text parts joined, as LLaMA-Factory joins them); 422 for anything else."""
    if message.tool_calls:
        raise ServeError(422, f"messages[0] has tool_calls: the dynahate model calls no tools; {ONE_POST}")
    if message.content is None:
        raise ServeError(422, f"messages[0] has no content: {ONE_POST}")
    if isinstance(message.content, str):
        return message.content
    for index, part in enumerate(message.content):
        if part.type != "text":
            raise ServeError(422, f"messages[0].content[{index}] is {part.type}: the dynahate model reads text only")
        if part.text is None:
            raise ServeError(422, f"messages[0].content[{index}] has no text")
    return "".join(part.text for part in message.content)


class ChatPrecheck:
    def __init__(self, checks: PostChecks):
        self.checks = checks

    async def __call__(self, body: bytes) -> None:
        from llamafactory.api.protocol import ChatCompletionRequest
        from pydantic import ValidationError

        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return  # not JSON: FastAPI's answer
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            _refuse_messages(data["messages"])
        try:  # parsed as FastAPI parses it; what fails here, FastAPI answers itself
            request = ChatCompletionRequest.model_validate(data)
        except ValidationError:
            return
        if request.tools:
            raise ServeError(422, f"'tools' is given: the dynahate model calls no tools; {ONE_POST}")
        if request.stream and request.n != 1:  # LLaMA-Factory would refuse it after the stream has started
            raise ServeError(422, f"'n' is {request.n} with 'stream': a stream carries one answer")
        (message,) = request.messages
        await self.checks.check_posts([_post_text(message)], current_guard.get(), name="messages")


def plain_text_posts(engine: Any) -> None:
    """Make LLaMA-Factory's engine encode a chat's post as plain text, with :func:`prompts.encode_prompt`.

    The engine gets its own copy of the ``dynahate`` template (the registered one is left as it is) whose
    ``encode_oneturn`` takes only what the pre-check lets through: one user message, no system, no tools.
    """
    template = copy.copy(engine.template)

    def encode_oneturn(tokenizer: Any, messages: list[dict[str, str]], system: str | None = None,
                       tools: str | None = None) -> tuple[list[int], list[int]]:
        roles = [message["role"] for message in messages]
        if roles != ["user", "assistant"] or messages[1]["content"] or system is not None or tools:
            raise ServeError(422, f"the dynahate model takes one post: {ONE_POST}")
        return prompts.encode_prompt(tokenizer, messages[0]["content"]), []

    template.encode_oneturn = encode_oneturn
    engine.template = template


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
