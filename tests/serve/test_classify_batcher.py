"""The served micro-batcher, in-process on the trained tiny adapter: requests that arrive within the batching window
are scored in one engine call, and each request gets its own results, equal to scoring its posts alone."""

from __future__ import annotations

import asyncio

import pytest

from dynahate.inference.score_engine import ScoreEngine
from dynahate.serve.classify_batcher import ClassifyBatcher


def test_a_request_arriving_within_the_window_joins_the_batch(loaded, dev_posts):
    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)
    first, second = dev_posts[:2], dev_posts[2:5]
    alone = engine.score(first + second)

    async def two_requests():
        batcher = ClassifyBatcher(engine, window_s=2.0)  # long enough that the second always arrives inside it
        one = asyncio.create_task(batcher.classify(first, [1] * len(first)))
        await asyncio.sleep(0.05)  # the worker has taken the first request and waits for more
        two = asyncio.create_task(batcher.classify(second, [1] * len(second)))
        return batcher, await one, await two

    batcher, one, two = asyncio.run(two_requests())
    assert batcher.stats.batches == 1 and batcher.stats.requests == 2 and batcher.stats.largest_batch == 5
    for result, expected in zip(one + two, alone, strict=True):
        assert result.pred == expected.pred and result.p_hate == pytest.approx(expected.p_hate, abs=1e-4)
