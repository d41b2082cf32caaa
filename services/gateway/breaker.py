"""One circuit breaker per service behind the gateway.

closed -> open after ``failures`` consecutive failed calls (no connection, no answer in time,
or an upstream 502/503/504: the service or its database is down) -> while open, calls are
refused at once with the time left -> half-open once that time is over: one call goes through
as a probe while the others are refused -> the probe's success closes the breaker, its failure
opens it again for the full time. A call the client abandons (cancelled) gives no verdict and
frees the probe slot.

Pure code with an injectable clock; per gateway replica.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter, Gauge

from shared.errors import Unavailable

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
# Upstream answers that mean "down" rather than "answered": what a service sends when its
# database is unreachable (503), and what a proxy in front of it sends (502, 504).
FAILING_STATUS = frozenset({502, 503, 504})

BREAKER_STATE = Gauge(
    "xinfang_gateway_breaker_state",
    "Circuit breaker of each service: 0 closed, 1 half-open, 2 open",
    ["service"],
)
BREAKER_OPENED = Counter(
    "xinfang_gateway_breaker_opened_total", "Times a service's breaker opened", ["service"]
)
BREAKER_REFUSED = Counter(
    "xinfang_gateway_breaker_refused_total",
    "Requests answered 503 by the gateway because the service's breaker was open",
    ["service"],
)


class CircuitOpen(Unavailable):
    """503 without calling the service: its breaker is open (or a probe is under way)."""

    def __init__(self, service: str, retry_after: int, failures: int) -> None:
        super().__init__(
            f"the {service} service is failing ({failures} consecutive failures); the gateway "
            f"does not call it for {retry_after} s; retry then",
            retry_after=retry_after,
        )
        self.extensions = {"service": service, "circuit": OPEN}


class CircuitBreaker:
    def __init__(
        self,
        service: str,
        failures: int = 5,
        open_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or open_seconds <= 0:
            raise ValueError("failures and open_seconds must be positive")
        self.service, self.threshold, self.open_seconds = service, failures, open_seconds
        self._clock = clock
        self._state = CLOSED
        self.failures = 0  # consecutive
        self._opened_at = 0.0
        self._probing = False
        BREAKER_STATE.labels(service).set(0)

    def _set(self, state: str) -> None:
        self._state = state
        BREAKER_STATE.labels(self.service).set(STATE_VALUE[state])

    @property
    def state(self) -> str:
        """closed, open, or half_open (also when the open time is over and no call came yet)."""
        if self._state == OPEN and self._clock() >= self._opened_at + self.open_seconds:
            self._set(HALF_OPEN)
            self._probing = False
        return self._state

    def retry_after(self) -> int:
        """Whole seconds until a call may go through (0: now)."""
        state = self.state
        if state == OPEN:
            return max(1, math.ceil(self._opened_at + self.open_seconds - self._clock()))
        if state == HALF_OPEN and self._probing:
            return 1
        return 0

    def admit(self) -> None:
        """Let a call go ahead, or raise :class:`CircuitOpen` (503 with Retry-After)."""
        wait = self.retry_after()
        if wait:
            BREAKER_REFUSED.labels(self.service).inc()
            raise CircuitOpen(self.service, wait, self.failures)
        if self._state == HALF_OPEN:
            self._probing = True

    def succeeded(self) -> None:
        self.failures = 0
        self._probing = False
        if self._state != CLOSED:
            self._set(CLOSED)

    def failed(self) -> int | None:
        """Count a failure; when it opens the breaker, the seconds it stays open."""
        self.failures += 1
        if self._state == HALF_OPEN or (self._state == CLOSED and self.failures >= self.threshold):
            self._opened_at = self._clock()
            self._probing = False
            self._set(OPEN)
            BREAKER_OPENED.labels(self.service).inc()
            return math.ceil(self.open_seconds)
        return None

    def abandoned(self) -> None:
        """The call ended without a verdict (the client went away): free the probe slot."""
        self._probing = False

    def record(self, status_code: int) -> None:
        """An upstream answer: a 502/503/504 is a failure, anything else a success."""
        if status_code in FAILING_STATUS:
            self.failed()
        else:
            self.succeeded()

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "consecutive_failures": self.failures,
            "retry_after": self.retry_after(),
        }


class Breakers(dict[str, CircuitBreaker]):
    """The breakers of the gateway's services, by service name."""

    @classmethod
    def of(
        cls,
        services: Iterable[str],
        failures: int,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Breakers:
        return cls({s: CircuitBreaker(s, failures, open_seconds, clock) for s in services})

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: breaker.snapshot() for name, breaker in self.items()}
