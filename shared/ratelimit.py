"""In-process rate limiters, with bounded memory.

:class:`SlidingWindow` counts query-code lookups in the services (per client, per tracking
number); :class:`TokenBucket` is the gateway's limiter (per principal, per client address).
Both are per process: with several replicas a client gets up to the limit at each replica.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window_seconds, max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> int:
        """Record a hit; return 0 if allowed, else seconds until the next is allowed."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, int(hits[0] + self.window - now) + 1)
        hits.append(now)
        if len(self._hits) > self.max_keys:
            self._prune(now)
        return 0

    def _prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]


@dataclass(frozen=True)
class Quota:
    """What one bucket says about a request, in the terms of the RateLimit header fields."""

    allowed: bool
    limit: int  # requests per window (the bucket's capacity)
    remaining: int  # requests that may follow at once
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until one request is allowed again (0 when allowed)


class TokenBucket:
    """``limit`` requests per ``window_seconds`` per key, with bursts up to ``limit``.

    Each key holds two numbers (tokens, last refill), so memory is bounded by ``max_keys``:
    past it the least recently seen key is forgotten (a forgotten bucket was, in practice,
    full again). Not thread-safe; in an event loop, a :meth:`peek` then :meth:`take` with no
    await between them is atomic.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0 or max_keys < 1:
            raise ValueError("limit, window_seconds and max_keys must be positive")
        self.limit, self.window, self.max_keys = limit, window_seconds, max_keys
        self.rate = limit / window_seconds  # tokens per second
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.limit), now))
        return min(float(self.limit), tokens + (now - last) * self.rate)

    def _quota(self, tokens: float, allowed: bool) -> Quota:
        reset = math.ceil((self.limit - tokens) / self.rate - 1e-9)
        wait = 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate - 1e-9))
        return Quota(allowed, self.limit, max(0, math.floor(tokens)), max(0, reset), wait)

    def peek(self, key: str) -> Quota:
        """What :meth:`take` would answer now, spending nothing."""
        tokens = self._tokens(key, self._clock())
        if tokens >= 1:
            return self._quota(tokens - 1, True)
        return self._quota(tokens, False)

    def take(self, key: str) -> Quota:
        """Spend one token if there is one; a refused request spends nothing."""
        now = self._clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return self._quota(tokens, allowed)
