"""Chat completions on the dynahate model: one post per request, encoded as ``/v1/classify`` encodes it.

The model was trained on one prompt: the built-in system prompt, one user turn (the instruction
and the post), the assistant's label. So chat takes exactly that: one message, with role ``user``,
whose text is the post. :class:`ChatPrecheck` runs on a chat request's body before the route does
(:mod:`dynahate.serve.completions`; it is a pre-check of :mod:`dynahate.serve.middleware`), so that a
streaming request gets its 4xx too, and refuses with 422:

- no message, more than one, a ``system`` message (it would replace the trained system prompt), and
  any role but ``user`` (``assistant``, ``tool``, ``function``, unknown ones);
- ``tools`` or ``tool_calls`` (they would be written into the system or an assistant turn);
- ``stream`` with ``n`` other than 1 (a stream carries one answer);
- a content part that is not text (the dynahate model reads no images, video or audio) or has no text;

then checks the request's other parameters (:func:`~dynahate.serve.chat_request.check_parameters`: the served
``model``, else 404; ``logprobs``, ``top_logprobs``, the token limits, ``stream_options``), then the post as
``/v1/classify`` does (:meth:`~dynahate.serve.post_checks.PostChecks.check_posts`: the post rule,
``--max-text-chars``, the prompt's length against ``--cutoff-len``, counted off the event loop). Messages name the
message (``messages[0]``, also the error's ``param``) and never quote it; a role is named only when
:func:`~dynahate.core.describe.shown`. A body that is not JSON or not the request's shape is left to FastAPI's
validation (422 in the app).

:func:`plain_text_posts` makes the engine encode the post with
:func:`dynahate.plugin.prompts.encode_prompt`, as plain text: a post that spells ``<|eot_id|>`` or
``<|start_header_id|>`` gets the ids of those characters, never the control tokens, while the
template's own special tokens stay special. For any other post the ids are the ``dynahate``
template's, so ``prompt_tokens`` is the count the pre-check made.
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
        raise ServeError(422, f"'messages' is empty: {ONE_POST}", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or message["role"] == "user":
            continue  # a missing or malformed message is FastAPI's validation error
        role = message["role"]
        if role == "system":
            raise ServeError(422, f"messages[{index}] is a system message: the system prompt the adapter was trained "
                                  f"with is built in and cannot be replaced; {ONE_POST}", param=f"messages[{index}]")
        raise ServeError(422, f"messages[{index}] has role {describe_value(role)}: {ONE_POST}",
                         param=f"messages[{index}]")
    if len(messages) > 1:
        raise ServeError(422, f"{len(messages)} messages: {ONE_POST} (a request classifies one post, with no "
                              "history; /v1/classify takes many)", param="messages")


def post_text(message: Any) -> str:
    """The text of the one user message (text parts joined, as LLaMA-Factory joins them); 422 for anything else."""
    if message.tool_calls:
        raise ServeError(422, f"messages[0] has tool_calls: the dynahate model calls no tools; {ONE_POST}",
                         param="messages[0].tool_calls")
    if message.content is None:
        raise ServeError(422, f"messages[0] has no content: {ONE_POST}", param="messages[0].content")
    if isinstance(message.content, str):
        return message.content
    for index, part in enumerate(message.content):
        where = f"messages[0].content[{index}]"
        if part.type != "text":
            raise ServeError(422, f"{where} is {part.type}: the dynahate model reads text only", param=where)
        if part.text is None:
            raise ServeError(422, f"{where} has no text", param=where)
    return "".join(part.text for part in message.content)


class ChatPrecheck:
    """The pre-check of a chat request's body; ``model_name`` is the one model it may name."""

    def __init__(self, checks: PostChecks, model_name: str):
        self.checks = checks
        self.model_name = model_name

    async def __call__(self, body: bytes) -> None:
        from pydantic import ValidationError

        from dynahate.serve.chat_request import ChatRequest, check_parameters

        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return  # not JSON: FastAPI's answer
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            _refuse_messages(data["messages"])
        try:  # parsed as FastAPI parses it; what fails here, FastAPI answers itself
            request = ChatRequest.model_validate(data)
        except ValidationError:
            return
        check_parameters(request, self.model_name)
        if request.tools:
            raise ServeError(422, f"'tools' is given: the dynahate model calls no tools; {ONE_POST}", param="tools")
        if request.stream and request.n != 1:
            raise ServeError(422, f"'n' is {request.n} with 'stream': a stream carries one answer", param="n")
        (message,) = request.messages
        await self.checks.check_posts([post_text(message)], current_guard.get(), name="messages")


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
