"""The HTTP app of ``dynahate serve``: LLaMA-Factory's OpenAI-compatible API plus ``/v1/classify``.

One model in memory: LLaMA-Factory's ``ChatModel`` loads the base (4-bit by default, as training
did) with the adapter and the ``dynahate`` template, so ``/v1/chat/completions`` takes the post
alone as the user message. ``/v1/classify`` scores posts with the eval module's score engine on
that same model, micro-batched across concurrent requests. ``/health`` says what is loaded.
Bad input is a 4xx with a one-line ``error``; the server keeps serving.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from dynahate.plugin import __version__, prompts
from dynahate.plugin.labels import LABELS

from .model_loading import read_adapter_config, resolve_base


# FastAPI reads the endpoints' annotations by name: ClassifyRequest and Request must be module-level.
class ClassifyRequest(BaseModel):
    texts: list[str]


@dataclass(frozen=True)
class ServeConfig:
    adapter: Path
    base: str | None = None
    quantize: bool = True
    force: bool = False
    cutoff_len: int = 1024
    max_texts: int = 64
    window_s: float = 0.005
    max_batch_posts: int = 256
    token_budget: int = 8192
    show_examples: bool = False  # let LLaMA-Factory log chat requests (they contain the posts)


def chat_model_args(config: ServeConfig, base: str, device: str) -> dict[str, Any]:
    """LLaMA-Factory ``ChatModel`` arguments: the adapter, the dynahate template, greedy 4-token answers."""
    args: dict[str, Any] = {
        "model_name_or_path": base, "adapter_name_or_path": str(config.adapter), "finetuning_type": "lora",
        "template": "dynahate", "infer_backend": "huggingface", "cutoff_len": config.cutoff_len,
        # the dtype eval loads with (bf16 on GPU, fp32 on CPU), so /v1/classify equals `dynahate predict`
        "infer_dtype": "bfloat16" if device.startswith("cuda") else "float32",
        "do_sample": False, "max_new_tokens": 4,
    }
    if config.quantize:
        args.update(quantization_bit=4, quantization_method="bnb", double_quantization=True)
    return args


def create_serve_app(config: ServeConfig):
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from llamafactory.api.app import create_app
    from llamafactory.chat import ChatModel

    from dynahate.plugin.lf_template import register_dynahate_template

    from .classify_batcher import ClassifyBatcher
    from .model_loading import default_device
    from .score_engine import ScoreEngine

    base = resolve_base(read_adapter_config(config.adapter), config.base, config.force)
    device = default_device()
    register_dynahate_template()
    chat_model = ChatModel(chat_model_args(config, base, device))
    model, tokenizer = chat_model.engine.model, chat_model.engine.tokenizer
    engine = ScoreEngine(model, tokenizer, token_budget=config.token_budget, progress=False)
    batcher = ClassifyBatcher(engine, window_s=config.window_s, max_batch_posts=config.max_batch_posts)
    app = create_app(chat_model)
    if not config.show_examples:  # LLaMA-Factory logs each chat request, posts included
        logging.getLogger("llamafactory.api.chat").setLevel(logging.WARNING)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error(422, f"invalid request body at {where or 'body'}: {first.get('msg', 'malformed')}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = batcher.stats
        return {
            "status": "ok", "model_loaded": True, "adapter": str(config.adapter), "base_model": base,
            "quantized": config.quantize, "device": device, "template": "dynahate", "labels": list(LABELS),
            "version": __version__, "max_texts": config.max_texts, "cutoff_len": config.cutoff_len,
            "served": {"requests": stats.requests, "posts": stats.posts, "batches": stats.batches,
                       "largest_batch": stats.largest_batch},
        }

    api_key = os.environ.get("API_KEY")  # the same variable LLaMA-Factory's chat API checks

    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest, request: Request):
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            return error(401, "missing or wrong API key: send 'Authorization: Bearer <API_KEY>'")
        texts = body.texts
        if not texts:
            return error(422, "'texts' is empty: send at least one post")
        if len(texts) > config.max_texts:
            return error(413, f"{len(texts)} texts in one request; the limit is {config.max_texts} (--max-texts)")
        for index, text in enumerate(texts):
            if not text.strip():
                return error(422, f"texts[{index}] is empty")
            length = len(prompts.encode_prompt(tokenizer, text))
            if length > config.cutoff_len:
                return error(413, f"texts[{index}] makes a {length}-token prompt; the limit is {config.cutoff_len}")
        results = await batcher.classify(texts)
        return [{"label": r.pred, "p_hate": r.p_hate} for r in results]

    return app
