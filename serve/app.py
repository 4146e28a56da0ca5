"""The HTTP app of ``dynahate serve``: an OpenAI-compatible API on LLaMA-Factory's model, plus ``/v1/classify``.

One model in memory: LLaMA-Factory's ``ChatModel`` loads the base (4-bit by default, as training
did) with the adapter and the ``dynahate`` template, so ``/v1/chat/completions`` takes one user
message, the post alone, encoded as plain text as ``/v1/classify`` encodes it (:mod:`dynahate.serve.chat`).
The OpenAI routes (``/v1/models``, ``/v1/chat/completions``: the served model's own name, ``logprobs``,
``max_completion_tokens``, streams with usage) are :mod:`dynahate.serve.completions`, in place of LLaMA-Factory's.
``/v1/classify`` scores posts with the score engine (:mod:`dynahate.inference.score_engine`) on
that same model, micro-batched across concurrent requests (:mod:`dynahate.serve.classify_batcher`). ``/health``
says what is loaded (``adapter_hub``: the repo id, revision and commit of a Hub adapter, else
null), the queue, and the requests dropped. ``GET /`` is a page to try the adapter in a browser
(:mod:`dynahate.serve.page`), a client of ``/v1/classify`` and ``/health`` like any other.

In front of every route, :mod:`dynahate.serve.middleware` checks the API key, the body size and
encoding, the chat request's messages and post (:mod:`dynahate.serve.chat`), and watches for clients
that leave and for the deadline. Posts are checked by one rule on both routes
(:mod:`dynahate.serve.post_checks`), tokenized and scored off the event loop. Bad input is a 4xx with a
one-line ``error`` that never quotes a post (FastAPI's and LLaMA-Factory's own errors too, a 400 of
theirs answered as 422); an unexpected exception is a 500 in the same shape, logged without its message
(:mod:`dynahate.serve.middleware`). On the OpenAI routes the same line is ``error.message`` of OpenAI's error
shape (:mod:`dynahate.serve.openai_errors`). The server keeps serving.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fastapi import Request
from pydantic import BaseModel

from dynahate.core import __version__
from dynahate.inference.decision_rule import DecisionRule
from dynahate.inference.model_loading import read_adapter_config, resolve_base
from dynahate.plugin.labels import LABELS
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN

API_KEY_ENV = "API_KEY"  # the same variable LLaMA-Factory's chat API checks
LF_VERBOSITY_ENV = "LLAMAFACTORY_VERBOSITY"


# FastAPI reads the endpoints' annotations by name: ClassifyRequest and Request must be module-level.
class ClassifyRequest(BaseModel):
    texts: list[str]


@dataclass(frozen=True)
class ServeConfig:
    adapter: Path
    hub: dict[str, str | None] | None = None  # repo_id, revision, commit of a Hub adapter (None: a local run)
    base: str | None = None
    quantize: bool = True
    force: bool = False
    cutoff_len: int = DEFAULT_CUTOFF_LEN
    max_texts: int = 64
    max_text_chars: int | None = None  # None: post_checks.default_max_text_chars(cutoff_len)
    max_body_bytes: int = 1 << 20
    max_queue: int = 256
    request_timeout_s: float = 60.0
    window_s: float = 0.005
    max_batch_posts: int = 256
    token_budget: int | str = "auto"  # resolved by the score engine once the model is loaded
    log_requests: bool = False  # let LLaMA-Factory log chat requests (they contain the posts)
    rule: DecisionRule = field(default_factory=DecisionRule)  # --threshold / --calibrated for /v1/classify
    page: bool = True  # GET / (the browser page) and its assets; --no-page leaves them out
    api_docs: bool = False  # --api-docs: /openapi.json and /docs (Swagger UI), behind the API key
    cors_origins: tuple[str, ...] = ()  # --cors-origin: the other origins whose pages may call the API


def chat_model_args(config: ServeConfig, base: str, device: str) -> dict[str, Any]:
    """LLaMA-Factory ``ChatModel`` arguments: the adapter, the dynahate template, greedy 4-token answers."""
    args: dict[str, Any] = {
        "model_name_or_path": base, "adapter_name_or_path": str(config.adapter), "finetuning_type": "lora",
        "template": "dynahate", "infer_backend": "huggingface", "cutoff_len": config.cutoff_len,
        # the dtype eval and predict load with (inference/model_loading.py: bf16 on GPU, fp32 on CPU), so
        # /v1/classify equals `dynahate predict`
        "infer_dtype": "bfloat16" if device.startswith("cuda") else "float32",
        "do_sample": False, "max_new_tokens": 4,
    }
    if config.quantize:
        args.update(quantization_bit=4, quantization_method="bnb", double_quantization=True)
    return args


@contextmanager
def transformers_warnings_only():
    """While LLaMA-Factory loads the model, keep transformers' log at warnings.

    LLaMA-Factory turns it to INFO as it reads its arguments, unless ``LLAMAFACTORY_VERBOSITY`` names a level
    above INFO, and transformers then prints the model's whole configuration each time it reads it (four times,
    about 180 lines, before the line saying where the server listens). A ``LLAMAFACTORY_VERBOSITY`` the user
    set is left as it is.
    """
    if LF_VERBOSITY_ENV in os.environ:
        yield
        return
    os.environ[LF_VERBOSITY_ENV] = "WARNING"
    try:
        yield
    finally:
        os.environ.pop(LF_VERBOSITY_ENV, None)


def allow_origins(app, origins: tuple[str, ...]) -> None:
    """CORS for ``origins`` alone: LLaMA-Factory's app lets a page of any origin (``*``) call the API; with no
    origin, no CORS header is sent and a browser keeps other sites' pages out (the server's own page is same-origin).
    """
    from fastapi.middleware.cors import CORSMiddleware
    from starlette.middleware import Middleware

    app.user_middleware[:] = [entry for entry in app.user_middleware if entry.cls is not CORSMiddleware]
    if origins:
        app.user_middleware.insert(0, Middleware(
            CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"], allow_credentials=False, max_age=600))


def create_serve_app(config: ServeConfig):
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from llamafactory.api.app import create_app
    from llamafactory.chat import ChatModel
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware

    from dynahate.inference.model_loading import default_device
    from dynahate.inference.score_engine import ScoreEngine
    from dynahate.plugin.lf_template import register_dynahate_template
    from dynahate.serve.api_docs import API_DOCS_PATHS, add_api_docs, remove_framework_docs
    from dynahate.serve.chat import ChatPrecheck, plain_text_posts
    from dynahate.serve.classify_batcher import ClassifyBatcher, QueueFull
    from dynahate.serve.completions import ChatCompletions, add_openai_routes, model_card, served_model_name
    from dynahate.serve.guard import DropCounts, ServeError, current_guard
    from dynahate.serve.middleware import ServeMiddleware
    from dynahate.serve.openai_errors import CHAT_PATH, error_body, is_openai_path
    from dynahate.serve.page import add_page_routes
    from dynahate.serve.post_checks import PostChecks, default_max_text_chars

    base = resolve_base(read_adapter_config(config.adapter), config.base, config.force)
    device = default_device()
    register_dynahate_template()
    with transformers_warnings_only():
        chat_model = ChatModel(chat_model_args(config, base, device))
    model, tokenizer = chat_model.engine.model, chat_model.engine.tokenizer
    engine = ScoreEngine(model, tokenizer, token_budget=config.token_budget, progress=False)
    batcher = ClassifyBatcher(engine, window_s=config.window_s, max_batch_posts=config.max_batch_posts,
                              max_queue=config.max_queue, chunk_tokens=4 * engine.token_budget)
    max_text_chars = config.max_text_chars or default_max_text_chars(config.cutoff_len)
    checks = PostChecks(tokenizer, config.cutoff_len, max_text_chars)
    drops = DropCounts()
    plain_text_posts(chat_model.engine)
    model_name = served_model_name(config.adapter, config.hub)
    app = create_app(chat_model)
    add_openai_routes(app, ChatCompletions(chat_model.engine, model_name),
                      model_card(model_name, config.adapter, config.hub))
    remove_framework_docs(app)  # FastAPI's /docs, /redoc, /openapi.json: only with --api-docs, ours
    allow_origins(app, config.cors_origins)
    if not config.log_requests:  # LLaMA-Factory logs each chat request, posts included
        logging.getLogger("llamafactory.api.chat").setLevel(logging.WARNING)
    api_key = os.environ.get(API_KEY_ENV) or None
    # innermost of the user middleware: inside the CORS middleware, so error answers carry its headers
    app.user_middleware.append(Middleware(
        ServeMiddleware, api_key=api_key, protected_paths=API_DOCS_PATHS, max_body_bytes=config.max_body_bytes,
        request_timeout_s=config.request_timeout_s, drops=drops,
        prechecks={CHAT_PATH: ChatPrecheck(checks, model_name)}, in_progress_limits={CHAT_PATH: config.max_queue},
        openai_paths=is_openai_path))

    def error(status: int, message: str, headers: Mapping[str, str] | None = None, request: Request | None = None,
              param: str | None = None) -> JSONResponse:
        """``{"error": message}``, or OpenAI's error shape on an OpenAI route."""
        body = error_body(ServeError(status, message, param=param),
                          request is not None and is_openai_path(request.scope["path"]))
        return JSONResponse(status_code=status, content=body, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error(422, f"invalid request body at {where or 'body'}: {first.get('msg', 'malformed')}",
                     request=request, param=where or None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        # FastAPI's and LLaMA-Factory's own errors, {"detail": ...} by default: a 400 (a body FastAPI cannot
        # parse, a request LLaMA-Factory refuses) is a bad request like any other here, 422
        status = 422 if exc.status_code == 400 else exc.status_code
        return error(status, str(exc.detail), exc.headers, request)

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError):
        return JSONResponse(status_code=exc.status, content=error_body(exc, is_openai_path(request.scope["path"])),
                            headers=exc.headers)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = batcher.stats
        return {
            "status": "ok", "model_loaded": True, "adapter": str(config.adapter), "adapter_hub": config.hub,
            "base_model": base,
            "quantized": config.quantize, "device": device, "template": "dynahate", "labels": list(LABELS),
            "version": __version__, "max_texts": config.max_texts, "cutoff_len": config.cutoff_len,
            "decision_rule": {"threshold": config.rule.threshold, "threshold_name": config.rule.threshold_name,
                              "temperature": config.rule.temperature},
            "classify": {"mode": "score", "token_budget": engine.token_budget,
                         "token_budget_source": engine.token_budget_source},
            "api_key_required": api_key is not None,
            "limits": {"max_texts": config.max_texts, "max_text_chars": max_text_chars,
                       "max_body_bytes": config.max_body_bytes, "max_queue": config.max_queue,
                       "request_timeout_s": config.request_timeout_s, "cutoff_len": config.cutoff_len},
            "queue": {"requests": batcher.queued_requests, "posts": batcher.queued_posts,
                      "scoring_posts": batcher.scoring_posts},
            "dropped": drops.as_dict(),
            "served": {"requests": stats.requests, "posts": stats.posts, "batches": stats.batches,
                       "largest_batch": stats.largest_batch},
        }

    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest):
        texts = body.texts
        if not texts:
            return error(422, "'texts' is empty: send at least one post")
        if len(texts) > config.max_texts:
            return error(413, f"{len(texts)} texts in one request; the limit is {config.max_texts} (--max-texts)")
        guard = current_guard.get()
        lengths = await checks.check_posts(texts, guard)  # not tokenized if the client has gone meanwhile
        try:
            results = await batcher.classify(texts, lengths, guard)
        except QueueFull as full:
            drops.rejected += 1
            return error(429, f"the queue holds {config.max_queue} requests, the limit (--max-queue); "
                              f"retry after {full.retry_after_s} s", {"Retry-After": str(full.retry_after_s)})
        return [config.rule.answer(cast(str, r.pred), cast(float, r.p_hate)) for r in results]  # score: both set

    if config.page:
        add_page_routes(app)
    if config.api_docs:
        add_api_docs(app)
    app.state.batcher = batcher  # what scores /v1/classify (the tests give it a failing engine)
    return app
