"""A small sliding-window limiter for query-code lookups (per client, per tracking number).

Per process, so with several replicas a client gets up to the limit at each replica; a shared
limit (gateway or a store) is the gateway issue's work. Memory is bounded by pruning empty
windows.
"""

from __future__ import annotations

import time
from collections import deque


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
