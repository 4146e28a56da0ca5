"""The error body of ``dynahate serve``: ``{"error": "<one line>"}``, or OpenAI's shape on the OpenAI routes.

An OpenAI client (the official ``openai`` package, and the many built like it) reads an error's reason from
``error.message`` and nothing else: given ``{"error": "..."}`` its exception says only ``Error code: 422``. So on
the OpenAI routes (:func:`is_openai_path`: ``/v1/chat/completions``, ``/v1/models`` and ``/v1/models/{id}``)
every error, the middleware's (401, 408, 413, 429, 503, 500) as the routes' and FastAPI's, is::

    {"error": {"message": "<one line>", "type": "...", "param": "<the field>" or null, "code": "..." or null}}

``type`` follows the status (:data:`ERROR_TYPES`); ``param`` and ``code`` are the :class:`ServeError`'s, else
the status's default code (:data:`DEFAULT_CODES`). ``/v1/classify``, ``/health`` and the rest keep
``{"error": "<one line>"}``. The message is the same one line either way: it never quotes a post.
"""

from __future__ import annotations

from typing import Any

from dynahate.serve.guard import ServeError

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"

ERROR_TYPES = {401: "authentication_error", 429: "rate_limit_error"}  # else invalid_request_error, 5xx server_error
DEFAULT_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 503: "timeout"}


def is_openai_path(path: str) -> bool:
    """A route of the OpenAI API (chat completions, the model list and one model), whose errors take its shape."""
    return path in (CHAT_PATH, MODELS_PATH) or path.startswith(MODELS_PATH + "/")


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")


def error_body(error: ServeError, openai: bool) -> dict[str, Any]:
    """The JSON body of ``error``: OpenAI's shape if ``openai``, else ``{"error": message}``."""
    if not openai:
        return {"error": error.message}
    return {"error": {"message": error.message, "type": error_type(error.status), "param": error.param,
                      "code": error.code or DEFAULT_CODES.get(error.status)}}
