"""``dynahate serve``: classify posts over HTTP and chat with the adapter (OpenAI-compatible)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "serve /v1/classify (micro-batched score mode), OpenAI chat completions and /health over HTTP"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, required=True, metavar="RUN_DIR", help="a LLaMA-Factory LoRA run")
    parser.add_argument("--base", help="base model (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--force", action="store_true", help="use a --base the adapter was not trained on")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--no-quantize", action="store_true", help="load the base unquantized")
    parser.add_argument("--max-texts", type=int, default=64, help="most posts per /v1/classify request (default 64)")
    parser.add_argument("--cutoff-len", type=int, default=1024, help="longest prompt in tokens (default 1024)")
    parser.add_argument("--window-ms", type=float, default=5.0,
                        help="how long an idle server waits to batch requests arriving together (default 5)")
    parser.add_argument("--token-budget", type=int, default=8192, help="padded tokens per scoring batch")
    parser.add_argument("--show-examples", action="store_true",
                        help="let LLaMA-Factory log chat requests (off by default: they contain the posts)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from .serve_app import ServeConfig, create_serve_app

    config = ServeConfig(adapter=args.adapter, base=args.base, quantize=not args.no_quantize, force=args.force,
                         cutoff_len=args.cutoff_len, max_texts=args.max_texts, window_s=args.window_ms / 1000,
                         token_budget=args.token_budget, show_examples=args.show_examples)
    app = create_serve_app(config)
    print(f"serving {args.adapter} on http://{args.host}:{args.port} "
          "(POST /v1/classify, POST /v1/chat/completions, GET /health)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
