"""A chat completions request as ``dynahate serve`` reads it, and the checks on its parameters.

:class:`ChatRequest` is LLaMA-Factory's request (``model``, ``messages``, ``tools``, ``do_sample``, ``temperature``,
``top_p``, ``n``, ``presence_penalty``, ``max_tokens``, ``stop``, ``stream``) with the OpenAI parameters it lacked:
``max_completion_tokens`` (``max_tokens``' current name), ``logprobs``, ``top_logprobs`` and ``stream_options``.
Other fields are ignored, as before.

:func:`check_parameters` refuses, in OpenAI's error shape with the field as ``param``
(:mod:`dynahate.serve.openai_errors`):

- a ``model`` other than the served one: 404 ``model_not_found`` (a placeholder such as ``gpt-3.5-turbo`` too: the
  server serves one adapter, under one name, that ``GET /v1/models`` lists);
- ``top_logprobs`` outside 0 to 20, or without ``logprobs: true``: 422;
- ``max_tokens`` or ``max_completion_tokens`` under 1, or both given with different values: 422;
- ``stream_options`` without ``stream: true``: 422.

A request with no ``model`` is the validation's 422 (``param``: ``model``), as for any missing field.
"""

from __future__ import annotations

import re

from llamafactory.api.protocol import ChatCompletionRequest
from pydantic import BaseModel

from dynahate.core.describe import describe_value
from dynahate.serve.guard import ServeError
from dynahate.serve.logprobs import MAX_TOP_LOGPROBS

_MODEL_ID = re.compile(r"[A-Za-z0-9._:/-]{1,96}")  # a model id is shown in the message; anything else described


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(ChatCompletionRequest):
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    stream_options: StreamOptions | None = None


def describe_model(value: object) -> str:
    return repr(value) if isinstance(value, str) and _MODEL_ID.fullmatch(value) else describe_value(value)


def model_not_found(requested: object, served: str) -> ServeError:
    return ServeError(404, f"model {describe_model(requested)} is not served here: this server serves {served!r} "
                           "(GET /v1/models); send it as 'model'", param="model", code="model_not_found")


def max_new_tokens(request: ChatRequest) -> int | None:
    """The most tokens to generate: ``max_completion_tokens`` or ``max_tokens`` (None: the server's default, 4)."""
    return request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens


def check_parameters(request: ChatRequest, served: str) -> None:
    """:class:`ServeError` for a request this server does not run as asked (see the module's docstring)."""
    if request.model != served:
        raise model_not_found(request.model, served)
    if request.top_logprobs is not None:
        if not 0 <= request.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ServeError(422, f"'top_logprobs' is {request.top_logprobs}: it must be 0 to {MAX_TOP_LOGPROBS}",
                             param="top_logprobs", code="invalid_value")
        if not request.logprobs:
            raise ServeError(422, "'top_logprobs' needs 'logprobs': true", param="top_logprobs", code="invalid_value")
    for name in ("max_completion_tokens", "max_tokens"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise ServeError(422, f"'{name}' is {value}: it must be at least 1", param=name, code="invalid_value")
    if request.max_tokens is not None and request.max_completion_tokens not in (None, request.max_tokens):
        raise ServeError(422, f"'max_completion_tokens' is {request.max_completion_tokens} and 'max_tokens' "
                              f"{request.max_tokens}: send one ('max_tokens' is its older name)",
                         param="max_completion_tokens", code="invalid_value")
    if request.stream_options is not None and not request.stream:
        raise ServeError(422, "'stream_options' is given without 'stream': true", param="stream_options",
                         code="invalid_value")
