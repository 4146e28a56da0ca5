"""Served classification vs offline score mode: posts/s side by side in one run, with latency.

First the offline figure: the score engine over all posts in one call (what `dynahate eval` does).
Then `dynahate serve` is started on loopback with the same adapter, and N concurrent clients
(one keep-alive connection each) send requests of --texts-per-request posts (default 1) to
/v1/classify until all posts are done; posts/s and p50/p99 request latency are printed for each
N, with the ratio to offline and the number of model batches the server ran.

    python benchmarks/serve_throughput.py                      # tiny model, trained here for 60 steps
    python benchmarks/serve_throughput.py --adapter RUN_DIR --clients 1 16 64

On a small CPU the clients share the cores with the server, which lowers the served figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from tiny_run import percentile, sample_posts, train_tiny

from dynahate.testing.serve_process import start_serve, stop_serve

CALL_SIZES = (1, 16, 64)


def offline_rate(adapter: Path, posts: list[str], quantize: bool) -> tuple[float, dict[int, float]]:
    """Posts/s of one score call over all posts, and the seconds of one call of 1, 16 and 64 posts."""
    from dynahate.inference.model_loading import load_adapter_model
    from dynahate.inference.score_engine import ScoreEngine

    loaded = load_adapter_model(adapter, quantize=quantize)
    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)
    engine.score(posts[:16])  # warm-up
    per_call = {}
    for size in CALL_SIZES:
        start = time.perf_counter()
        for _ in range(5):
            engine.score(posts[:size])
        per_call[size] = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    engine.score(posts)
    return len(posts) / (time.perf_counter() - start), per_call


def served_rate(url: str, posts: list[str], clients: int, per_request: int) -> tuple[float, float, float, dict]:
    import httpx

    before = httpx.get(f"{url}/health").json()["served"]
    local = threading.local()

    def send(texts: list[str]) -> float:
        if not hasattr(local, "client"):  # one keep-alive connection per client thread, as a real client would
            local.client = httpx.Client(timeout=600)
        started = time.perf_counter()
        response = local.client.post(f"{url}/v1/classify", json={"texts": texts})
        response.raise_for_status()
        return time.perf_counter() - started

    requests = [posts[i : i + per_request] for i in range(0, len(posts), per_request)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(send, requests[: clients * 2]))  # warm-up
        start = time.perf_counter()
        latencies = list(pool.map(send, requests))
        seconds = time.perf_counter() - start
    after = httpx.get(f"{url}/health").json()["served"]
    batches = after["batches"] - before["batches"]
    return len(posts) / seconds, statistics.median(latencies), percentile(latencies, 0.99), {"batches": batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--adapter", type=Path, help="a trained run directory (default: train the tiny model)")
    parser.add_argument("--posts", type=int, default=1152)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--no-quantize", action="store_true")
    parser.add_argument("--texts-per-request", type=int, default=1, help="posts in each request (default 1)")
    parser.add_argument("--window-ms", type=float, default=5.0, help="the server's batching window (default 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        adapter = args.adapter or train_tiny(work)
        _, posts = sample_posts(work, args.posts)
        offline, per_call = offline_rate(adapter, posts, not args.no_quantize)
        options = ["--window-ms", str(args.window_ms)] + (["--no-quantize"] if args.no_quantize else [])
        proc, url = start_serve(adapter, work / "server.log", *options, env={"HF_HUB_OFFLINE": "1"})
        try:
            rows = [(clients, *served_rate(url, posts, clients, args.texts_per_request)) for clients in args.clients]
        finally:
            stop_serve(proc)

    print(f"posts: {len(posts)}, {args.texts_per_request} per request; CPU cores: {os.cpu_count()}; "
          f"4-bit: {not args.no_quantize}; batching window {args.window_ms} ms")
    print(f"offline score mode (one call):            {offline:8.1f} posts/s")
    print("one score call (fixed cost per batch):    "
          + ", ".join(f"{size} posts {seconds * 1000:.1f} ms" for size, seconds in per_call.items()))
    for clients, rate, p50, p99, info in rows:
        print(f"served, {clients:3d} concurrent clients:           {rate:8.1f} posts/s  p50 {p50 * 1000:7.1f} ms  "
              f"p99 {p99 * 1000:7.1f} ms  model batches {info['batches']:5d}  served/offline {rate / offline:.2f}")


if __name__ == "__main__":
    main()
