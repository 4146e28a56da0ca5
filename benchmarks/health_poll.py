"""Waiting for a server's ``/health``: a new ``httpx.get`` each time against one client, side by side in one run.

``tests/helpers/serve_process.wait_for_health`` asks every half second until a starting server answers. Each
``httpx.get`` builds a client, and with it a TLS context that loads certifi's certificates, even for a plain
``http://`` URL; one ``httpx.Client`` builds it once. This script asks a loopback port where nothing listens (as
while a server starts) ``--requests`` times each way and prints the CPU time per request of each and the ratio.

    python benchmarks/health_poll.py [--requests 200]
"""

from __future__ import annotations

import argparse
import time
from typing import cast

import httpx

from dynahate.testing.serve_process import free_port


def cpu_per_request(ask, url: str, requests: int) -> float:
    """CPU seconds per ``ask(url)``, each refused (nothing listens)."""
    started = time.process_time()
    for _ in range(requests):
        try:
            ask(url)
        except httpx.TransportError:
            pass
    return (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{free_port()}/health"
    each = cpu_per_request(lambda u: httpx.get(u, timeout=2), url, args.requests)
    with httpx.Client(timeout=2) as client:
        shared = cpu_per_request(client.get, url, args.requests)
    print(f"{args.requests} refused requests each way: httpx.get {each * 1000:.2f} ms of CPU per request, "
          f"one client {shared * 1000:.3f} ms; ratio {each / shared:.0f}x")


if __name__ == "__main__":
    main()
