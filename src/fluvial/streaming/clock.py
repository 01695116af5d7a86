"""Clocks that drive batch generation.

The scheduler asks a clock for the time and waits on it for the next batch
boundary. :class:`SystemClock` is wall time. :class:`ManualClock` only moves
when a test calls :meth:`ManualClock.advance`, and ``advance`` returns only
once every batch due by the new time has been processed by each streaming
context attached to the clock, so tests run batch by batch without sleeping.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class Clock:
    def time_ms(self) -> int:
        raise TypeError(f"{type(self).__name__} must define time_ms()")

    def wait_till(self, target_ms: int, stopped: threading.Event) -> bool:
        """Block until the clock reaches ``target_ms`` (True) or ``stopped`` is set (False)."""
        raise TypeError(f"{type(self).__name__} must define wait_till()")

    def wake(self) -> None:
        """Wake waiters so they can re-check their stop flag."""


class SystemClock(Clock):
    def time_ms(self) -> int:
        return int(time.time() * 1000)

    def wait_till(self, target_ms: int, stopped: threading.Event) -> bool:
        while not stopped.is_set():
            remaining = target_ms - self.time_ms()
            if remaining <= 0:
                return True
            stopped.wait(min(remaining / 1000.0, 0.1))
        return False


class ManualClock(Clock):
    """A clock that moves only when told to.

    ``advance(seconds)`` moves time forward and blocks until every streaming
    context using this clock has finished all batches due by the new time (or
    has stopped). ``set_time`` moves time without waiting."""

    def __init__(self, start_ms: int = 0) -> None:
        self._time = int(start_ms)
        self._cond = threading.Condition()
        self._drainers: list[Callable[[int], None]] = []

    def time_ms(self) -> int:
        return self._time

    def getTimeMillis(self) -> int:
        return self._time

    def wait_till(self, target_ms: int, stopped: threading.Event) -> bool:
        with self._cond:
            while self._time < target_ms and not stopped.is_set():
                self._cond.wait()
            return not stopped.is_set()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def set_time(self, ms: int) -> None:
        with self._cond:
            self._time = int(ms)
            self._cond.notify_all()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` and wait until the batches due are done."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance: seconds must be >= 0, got {seconds}")
        self.set_time(self._time + int(round(seconds * 1000)))
        for drain in list(self._drainers):
            drain(self._time)

    def _attach(self, drain: Callable[[int], None]) -> None:
        self._drainers.append(drain)

    def _detach(self, drain: Callable[[int], None]) -> None:
        if drain in self._drainers:
            self._drainers.remove(drain)


_MANUAL_NAMES = {"org.apache.spark.util.ManualClock", "fluvial.streaming.clock.ManualClock",
                 "fluvial.testing.ManualClock", "manual"}
_SYSTEM_NAMES = {"org.apache.spark.util.SystemClock", "system"}


def clock_from_conf(conf: Any, start_ms: int = 0) -> Clock:
    """The clock ``spark.streaming.clock`` names (Spark's class names or
    ``manual`` / ``system``; default the system clock). A manual clock starts
    at ``start_ms``."""
    name = conf.get("spark.streaming.clock")
    if name in _MANUAL_NAMES:
        return ManualClock(start_ms)
    if name is not None and name not in _SYSTEM_NAMES:
        raise ValueError(f"spark.streaming.clock={name!r} is not a known clock; use 'manual' or 'system'")
    return SystemClock()
