"""Rate limiting for receivers.

:class:`RateLimiter` is a token bucket without burst: each record costs
``1/rate`` seconds of a virtual timeline, and ``acquire`` sleeps until the
caller's records fit. The clock and sleep functions are injectable so tests
can check the limiter without sleeping.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class RateLimiter:
    """At most ``rate`` records per second (``None`` or ``<= 0``: unlimited)."""

    def __init__(self, rate: float | None = None, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._now = now
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._rate: float | None = None
        self.set_rate(rate)

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self._rate = rate if rate is not None and rate > 0 else None

    def acquire(self, n: int = 1) -> float:
        """Wait until ``n`` more records are allowed; returns the seconds waited."""
        with self._lock:
            rate = self._rate
            if rate is None or n <= 0:
                return 0.0
            now = self._now()
            start = max(self._next_free, now)
            self._next_free = start + n / rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)
