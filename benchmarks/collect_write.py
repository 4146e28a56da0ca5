"""Writing an entry on `dynahate collect serve` vs classifying the same post on `dynahate serve`, side by side in
one run; then many annotators writing at once.

Both servers run the same adapter on loopback (the same model path: the score engine behind the micro-batcher,
its 5 ms window, the same post checks). One client sends each post twice, to ``/v1/classify`` and as an entry
(``POST /api/entries``: the model's answer, then the entry committed to SQLite in WAL mode with
``synchronous=FULL`` before the answer), alternating which goes first; after a warm-up, the median and p90 of
each are printed with their difference in ms and the ratio. Issue 30's bound: a write costs at most 20 ms more
than a classify call. Then ``--annotators`` annotators (a thread and a token each) write ``--writes-each`` posts at
once: the answers are counted by status, the entries in the database must equal the answers 201, and a 500 fails
the run.

    python benchmarks/collect_write.py                      # tiny model, trained here for 60 steps
    python benchmarks/collect_write.py --adapter RUN_DIR --requests 200 --annotators 50

On a small CPU the client shares the cores with the servers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

from tiny_run import percentile, sample_posts, train_tiny

from dynahate.testing.cli import OFFLINE_ENV
from dynahate.testing.collect_process import add_annotators, bearer, start_collect
from dynahate.testing.serve_process import start_serve, stop_serve

BOUND_MS = 20.0
TYPES = ("animosity", "derogation", "dehumanization", "threatening", "support")


def entry_body(post: str, index: int) -> dict[str, Any]:
    if index % 2:
        return {"text": post, "label": "not hate"}
    return {"text": post, "label": "hate", "type": TYPES[index % len(TYPES)], "targets": ["wom"]}


def side_by_side(classify_url: str, collect_url: str, token: str, posts: list[str], warmup: int
                 ) -> tuple[list[float], list[float]]:
    """Seconds of each /v1/classify call and each entry write, the same post to both, in alternating order."""
    import httpx

    classify_times, write_times = [], []
    with httpx.Client(timeout=120) as classify, httpx.Client(timeout=120, headers=bearer(token)) as collect:
        def time_classify(post: str) -> float:
            started = time.perf_counter()
            response = classify.post(f"{classify_url}/v1/classify", json={"texts": [post]})
            seconds = time.perf_counter() - started
            response.raise_for_status()
            return seconds

        def time_write(post: str, index: int) -> float:
            started = time.perf_counter()
            response = collect.post(f"{collect_url}/api/entries", json=entry_body(post, index))
            seconds = time.perf_counter() - started
            if response.status_code != 201:
                sys.exit(f"writing an entry answered {response.status_code}: {response.text[:300]}")
            return seconds

        for index, post in enumerate(posts):
            if index % 2:
                write, classified = time_write(post, index), time_classify(post)
            else:
                classified, write = time_classify(post), time_write(post, index)
            if index >= warmup:
                classify_times.append(classified)
                write_times.append(write)
    return classify_times, write_times


def at_once(collect_url: str, tokens: dict[str, str], posts: list[str], writes_each: int
            ) -> tuple[Counter, float, list[str]]:
    """Every annotator writes ``writes_each`` posts at once: (answers by status, seconds, the first unexpected)."""
    import httpx

    statuses: Counter = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(tokens))

    def annotate(index: int, token: str) -> None:
        with httpx.Client(timeout=300, headers=bearer(token)) as client:
            start.wait()
            for k in range(writes_each):
                post = f"{posts[(index * writes_each + k) % len(posts)]} ({index}.{k})"
                try:
                    response = client.post(f"{collect_url}/api/entries", json=entry_body(post, index + k))
                    status = str(response.status_code)
                except httpx.TransportError as exc:
                    status, response = f"no answer ({type(exc).__name__})", None
                with lock:
                    statuses[status] += 1
                    if response is None or response.status_code != 201:
                        unexpected.append(f"{status} {response.text[:200] if response is not None else ''}")

    threads = [threading.Thread(target=annotate, args=(index, token)) for index, token in enumerate(tokens.values())]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.perf_counter() - started, unexpected[:5]


def entries_of(db_url: str, names: list[str]) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT COUNT(*) FROM entries e JOIN annotators a ON a.id = e.annotator_id "
                "WHERE a.name LIKE 'crowd-%'")).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--adapter", type=Path, help="a trained run directory (default: train the tiny model)")
    parser.add_argument("--requests", type=int, default=200, help="posts sent to both, after the warm-up")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--annotators", type=int, default=50, help="annotators writing at once (default 50)")
    parser.add_argument("--writes-each", type=int, default=4)
    parser.add_argument("--db", help="the collect database URL (default: an SQLite file in the work folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        adapter = args.adapter or train_tiny(work)
        unique, repeated = sample_posts(work, args.warmup + args.requests)
        posts = [f"{post} [{index}]" for index, post in enumerate(repeated)]
        db_url = args.db or f"sqlite:///{work / 'collect.sqlite3'}"
        crowd = [f"crowd-{index:03d}" for index in range(args.annotators)]
        tokens = add_annotators(db_url, ["timer", *crowd])
        serve_proc, classify_url = start_serve(adapter, work / "serve.log", env=OFFLINE_ENV)
        try:
            collect_proc, collect_url = start_collect(adapter, db_url, work / "collect.log", "--rate-limit",
                                                      "1000000", "--no-page", env=OFFLINE_ENV)
            try:
                classify_times, write_times = side_by_side(classify_url, collect_url, tokens["timer"], posts,
                                                           args.warmup)
                stop_serve(serve_proc)  # the crowd has the cores to itself with the collect server
                statuses, seconds, unexpected = at_once(collect_url, {name: tokens[name] for name in crowd},
                                                        unique, args.writes_each)
                stored = entries_of(db_url, crowd)
            finally:
                collect_proc.terminate()
                collect_proc.wait(timeout=60)
        finally:
            if serve_proc.poll() is None:
                stop_serve(serve_proc)

    ms = {name: (statistics.median(times) * 1000, percentile(times, 0.9) * 1000)
          for name, times in (("classify", classify_times), ("write", write_times))}
    extra_median, extra_p90 = ms["write"][0] - ms["classify"][0], ms["write"][1] - ms["classify"][1]
    backend = db_url.split(":", 1)[0]
    print(f"adapter {adapter}; CPU cores: {os.cpu_count()}; {len(write_times)} posts to each after {args.warmup} "
          f"warm-up, one client, alternating; collect database: {backend}")
    print(f"/v1/classify on dynahate serve:     median {ms['classify'][0]:7.1f} ms  p90 {ms['classify'][1]:7.1f} ms")
    print(f"POST /api/entries on collect serve: median {ms['write'][0]:7.1f} ms  p90 {ms['write'][1]:7.1f} ms")
    print(f"write - classify: median {extra_median:+.1f} ms, p90 {extra_p90:+.1f} ms; write / classify "
          f"(medians) {ms['write'][0] / ms['classify'][0]:.2f}; bound: at most {BOUND_MS:.0f} ms more: "
          f"{'met' if extra_median <= BOUND_MS else 'NOT MET'} (median)")
    total = sum(statuses.values())
    answers = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    print(f"{args.annotators} annotators x {args.writes_each} writes at once: {total} requests in {seconds:.1f} s "
          f"({total / seconds:.1f}/s); answers: {answers}; entries stored: {stored}; 500s: {statuses['500']}")
    if unexpected:
        print("first answers other than 201: " + " | ".join(unexpected))
    if statuses["500"]:
        sys.exit(f"{statuses['500']} answers 500")
    if stored != statuses["201"]:
        sys.exit(f"{statuses['201']} answers 201 but {stored} entries stored")


if __name__ == "__main__":
    main()
