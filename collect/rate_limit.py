"""A per-token rate limit: a token bucket of ``per_minute`` requests that refills continuously.

A token that spends its bucket gets 429 with ``Retry-After`` (seconds until one request is allowed again). The
buckets live in the server's memory (one process serves the API): a restart refills them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimit:
    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # token id -> (tokens left, at)

    def take(self, key: str) -> int | None:
        """Spend one request of ``key``'s bucket: None if allowed, else the seconds to wait."""
        now = self.clock()
        rate = self.per_minute / 60.0
        left, at = self._buckets.get(key, (float(self.per_minute), now))
        left = min(float(self.per_minute), left + (now - at) * rate)
        if left < 1.0:
            self._buckets[key] = (left, now)
            return max(1, math.ceil((1.0 - left) / rate))
        self._buckets[key] = (left - 1.0, now)
        return None
