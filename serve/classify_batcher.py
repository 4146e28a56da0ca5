"""Micro-batching for served classification: requests that arrive together are scored together.

Each request's texts wait in a bounded queue (``max_queue`` requests; beyond it
:class:`QueueFull`, which the app answers with 429 and ``Retry-After``). One worker takes
everything waiting; if the batch is small it waits up to ``window_s`` for more, up to
``max_batch_posts``. The batch's posts then go to the score engine, in a single worker thread,
in calls of at most ``chunk_tokens`` prompt tokens, and each request gets its own slice of the
results. While the model is busy, new requests pile up and form the next batch, so under load
the batches grow by themselves and throughput approaches offline throughput.

A request whose client has gone or whose deadline passed (its :class:`RequestGuard` is dropped)
is taken out of the queue at once, skipped when the worker takes it, and its remaining posts
are skipped between score-engine calls: abandoned work is never scored.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

from dynahate.inference.score_engine import ScoreEngine, ScoreResult
from dynahate.serve.guard import TIMED_OUT, RequestDropped, RequestGuard


@dataclass
class BatcherStats:
    requests: int = 0  # answered
    posts: int = 0  # scored
    batches: int = 0  # score-engine calls
    largest_batch: int = 0


class QueueFull(Exception):
    """The queue holds ``max_queue`` requests; ``retry_after_s`` is a guess at when it has room."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"queue full, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class _Pending:
    texts: list[str]
    lengths: list[int]  # prompt tokens of each text
    future: asyncio.Future = field(repr=False)
    guard: RequestGuard | None = None
    results: list[ScoreResult | None] = field(default_factory=list)
    missing: int = 0

    @property
    def live(self) -> bool:
        return not self.future.done() and not (self.guard is not None and self.guard.dropped)

    def give_up(self) -> None:
        if not self.future.done():
            reason = self.guard.reason if self.guard is not None and self.guard.reason else TIMED_OUT
            self.future.set_exception(RequestDropped(reason))


class ClassifyBatcher:
    def __init__(self, engine: ScoreEngine, window_s: float = 0.005, max_batch_posts: int = 256,
                 max_queue: int = 256, chunk_tokens: int = 32768):
        self.engine = engine
        self.window_s = window_s
        self.max_batch_posts = max_batch_posts
        self.max_queue = max_queue
        self.chunk_tokens = chunk_tokens
        self.stats = BatcherStats()
        self._waiting: deque[_Pending] = deque()
        self._waiting_posts = 0
        self._scoring_posts = 0
        self._posts_per_s: float | None = None  # recent scoring speed, for Retry-After
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynahate-score")

    # -- what /health reports --------------------------------------------------------------
    @property
    def queued_requests(self) -> int:
        return len(self._waiting)

    @property
    def queued_posts(self) -> int:
        return self._waiting_posts

    @property
    def scoring_posts(self) -> int:
        return self._scoring_posts

    def retry_after_s(self) -> int:
        """Seconds until the work now queued is likely done (1 to 60)."""
        backlog = self._waiting_posts + self._scoring_posts
        rate = self._posts_per_s or 50.0
        return int(min(60, max(1, math.ceil(backlog / rate))))

    @property
    def _arrival(self) -> asyncio.Event:
        """Set when a request arrives (made with the worker, on first use)."""
        return cast(asyncio.Event, self._arrived)

    # -- requests ----------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        """Start the worker in the running event loop, on first use (no await: no race)."""
        if self._worker is None:
            self._arrived = asyncio.Event()
            self._worker = asyncio.create_task(self._run())

    async def classify(self, texts: list[str], lengths: list[int],
                       guard: RequestGuard | None = None) -> list[ScoreResult]:
        """Results for ``texts`` in order; :class:`QueueFull` or :class:`RequestDropped` instead."""
        self._ensure_started()
        if len(self._waiting) >= self.max_queue:
            raise QueueFull(self.retry_after_s())
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(texts, lengths, future, guard, [None] * len(texts), len(texts))
        self._waiting.append(pending)
        self._waiting_posts += len(texts)
        self._arrival.set()
        unregister = guard.on_drop(lambda reason: self._drop(pending)) if guard is not None else None
        try:
            return await future
        finally:
            if unregister is not None:
                unregister()

    def _drop(self, pending: _Pending) -> None:
        """The client has gone or the deadline passed: out of the queue now, and answered."""
        try:
            self._waiting.remove(pending)
            self._waiting_posts -= len(pending.texts)
        except ValueError:
            pass  # being scored: the worker skips its remaining posts
        pending.give_up()

    # -- the worker --------------------------------------------------------------------------
    def _take_waiting(self, batch: list[_Pending], size: int) -> int:
        """Move live requests from the queue into ``batch`` (at least one) up to ``max_batch_posts``."""
        while self._waiting and (not batch or size < self.max_batch_posts):
            pending = self._waiting.popleft()
            self._waiting_posts -= len(pending.texts)
            if not pending.live:  # dropped when taken from the queue
                pending.give_up()
                continue
            batch.append(pending)
            size += len(pending.texts)
        return size

    async def _collect(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        batch: list[_Pending] = []
        size = 0
        while not batch:
            while not self._waiting:
                self._arrival.clear()
                await self._arrival.wait()
            size = self._take_waiting(batch, size)
        deadline = loop.time() + self.window_s
        while size < self.max_batch_posts:  # then a short window for requests about to arrive
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                break
            size = self._take_waiting(batch, size)
        return batch

    def _next_chunk(self, work: deque[tuple[_Pending, int]]) -> list[tuple[_Pending, int]]:
        """The next posts for one score-engine call, skipping those of dropped requests."""
        chunk, tokens = [], 0
        while work:
            pending, index = work[0]
            if not pending.live:
                work.popleft()
                pending.give_up()
                continue
            if chunk and tokens + pending.lengths[index] > self.chunk_tokens:
                break
            work.popleft()
            chunk.append((pending, index))
            tokens += pending.lengths[index]
        return chunk

    async def _score(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        work = deque((pending, index) for pending in batch for index in range(len(pending.texts)))
        while chunk := self._next_chunk(work):  # liveness is checked again before every call
            self._scoring_posts = len(chunk) + len(work)
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.engine.score,
                                                     [pending.texts[index] for pending, index in chunk])
            except Exception as exc:  # noqa: BLE001 - handed to every request of the call
                for pending, _ in chunk:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            rate = len(chunk) / max(time.perf_counter() - started, 1e-6)
            self._posts_per_s = rate if self._posts_per_s is None else 0.7 * self._posts_per_s + 0.3 * rate
            self.stats.posts += len(chunk)
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(chunk))
            for (pending, index), result in zip(chunk, results, strict=True):
                pending.results[index] = result
                pending.missing -= 1
                if pending.missing == 0 and not pending.future.done():
                    pending.future.set_result(pending.results)
                    self.stats.requests += 1
        self._scoring_posts = 0

    async def _run(self) -> None:
        while True:
            await self._score(await self._collect())
