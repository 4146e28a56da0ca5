"""Micro-batching for served classification: requests that arrive together are scored together.

Each request's texts are queued with a future. One worker takes everything waiting; if the model
is idle and the batch is small it waits up to ``window_s`` for more, up to ``max_batch_posts``;
then the score engine runs once, in a single worker thread, and each request gets its own slice
of the results. While the model is busy, new requests pile up and form the next batch, so under
load the batches grow by themselves and throughput approaches offline throughput.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .score_engine import ScoreEngine, ScoreResult


@dataclass
class BatcherStats:
    requests: int = 0
    posts: int = 0
    batches: int = 0
    largest_batch: int = 0


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future = field(repr=False)


class ClassifyBatcher:
    def __init__(self, engine: ScoreEngine, window_s: float = 0.005, max_batch_posts: int = 256):
        self.engine = engine
        self.window_s = window_s
        self.max_batch_posts = max_batch_posts
        self.stats = BatcherStats()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynahate-score")

    def _ensure_started(self) -> None:
        """Start the worker in the running event loop, on first use (no await: no race)."""
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run())

    async def classify(self, texts: list[str]) -> list[ScoreResult]:
        self._ensure_started()
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(texts, future))
        return await future

    async def _collect(self) -> list[_Pending]:
        queue = self._queue
        batch = [await queue.get()]
        size = len(batch[0].texts)
        while size < self.max_batch_posts and not queue.empty():  # everything already waiting
            batch.append(queue.get_nowait())
            size += len(batch[-1].texts)
        deadline = asyncio.get_running_loop().time() + self.window_s
        while size < self.max_batch_posts:  # then a short window for requests about to arrive
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except asyncio.TimeoutError:
                break
            size += len(batch[-1].texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            texts = [text for pending in batch for text in pending.texts]
            try:
                results = await loop.run_in_executor(self._executor, self.engine.score, texts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            self.stats.requests += len(batch)
            self.stats.posts += len(texts)
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
            start = 0
            for pending in batch:
                if not pending.future.done():  # a client that went away is simply skipped
                    pending.future.set_result(results[start : start + len(pending.texts)])
                start += len(pending.texts)
