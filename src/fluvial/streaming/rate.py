"""Rate control for receivers: a limiter, Spark's PID estimator, and the
controller that feeds one into the other after every batch.

:class:`RateLimiter` behaves like the Guava limiter Spark's receivers use: a
steady ``rate`` permits per second, plus up to one second of permits saved
while the caller was idle (so a producer that paused may burst). A caller never
waits for its own permits: ``acquire`` waits until the *previous* reservation
is paid off and charges the new one to the next caller. Its clock and sleep are
injectable, so tests (and a StreamingContext on a ManualClock) run it on
virtual time.

:class:`PIDRateEstimator` is Spark's backpressure estimator, with its update
rule unchanged; :class:`RateController` applies it to one input stream when a
batch completes and publishes the new rate to that stream's limiter.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable

log = logging.getLogger("fluvial.streaming")

__all__ = ["RateLimiter", "PIDRateEstimator", "RateController", "create_rate_estimator"]


class RateLimiter:
    """At most ``rate`` records per second, with up to ``max_burst_seconds``
    of unused permits saved (``rate`` None, ``<= 0`` or infinite: unlimited).

    ``now()`` returns seconds; ``sleep(seconds)`` waits (it may return early,
    e.g. when its owner stops; ``acquire`` then returns without waiting further).
    ``sleep_until(t)``, if given, replaces ``sleep``: it waits until ``now()``
    reaches ``t``, which stays exact when the clock jumps (a ManualClock).
    Time is kept in whole microseconds, as Guava does, so that waits on a
    virtual clock are exact. Thread-safe: concurrent callers are served in the
    order they reserve."""

    def __init__(self, rate: float | None = None, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = time.sleep, max_burst_seconds: float = 1.0,
                 sleep_until: Callable[[float], Any] | None = None) -> None:
        if max_burst_seconds < 0:
            raise ValueError(f"max_burst_seconds must be >= 0, got {max_burst_seconds}")
        self._now = now
        self._sleep = sleep
        self._sleep_until = sleep_until
        self._burst = float(max_burst_seconds)
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._interval_us = 0.0       # microseconds per permit while limited
        self._stored = 0.0            # permits saved while idle
        self._max_permits = 0.0
        self._next_free = self._now_us()  # when the next permit is available (us)
        self._waiting = 0
        self._created = False
        self.set_rate(rate)
        self._created = True

    def _now_us(self) -> int:
        return round(self._now() * 1_000_000)

    @property
    def rate(self) -> float | None:
        """Permits per second, or None when unlimited."""
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        """Change the rate from now on. Saved permits scale with the new burst
        size; coming from unlimited (not at creation), the burst allowance
        starts full."""
        limited = rate is not None and rate > 0 and not math.isinf(rate)
        with self._lock:
            self._resync(self._now_us())
            if not limited:
                self._rate = None
                self._interval_us = 0.0
                self._stored = 0.0
                self._max_permits = 0.0
                return
            was_unlimited = self._rate is None and self._created
            old_max = self._max_permits
            self._rate = float(rate)  # type: ignore[arg-type]
            self._interval_us = 1_000_000 / self._rate
            self._max_permits = self._burst * self._rate
            if was_unlimited:
                self._stored = self._max_permits
            elif old_max > 0:
                self._stored = self._stored * self._max_permits / old_max
            else:
                self._stored = 0.0

    def _resync(self, now: int) -> None:
        if now > self._next_free:
            if self._rate is not None:
                earned = (now - self._next_free) / self._interval_us
                self._stored = min(self._max_permits, self._stored + earned)
            self._next_free = now

    def reserve(self, n: int = 1) -> float:
        """Reserve ``n`` permits; returns the seconds the caller must wait."""
        return self._reserve_now(n)[0]

    def _reserve_now(self, n: int) -> tuple[float, float]:
        reserved = self._reserve(n)
        assert reserved is not None  # without max_wait the permits are always reserved
        return reserved

    def _reserve(self, n: int, max_wait: float | None = None) -> tuple[float, float] | None:
        """(seconds to wait, moment in ``now()`` seconds when the permits are
        available); None, reserving nothing, when that is more than ``max_wait`` seconds away."""
        if n < 0:
            raise ValueError(f"cannot acquire a negative number of permits ({n})")
        with self._lock:
            now = self._now_us()
            if self._rate is None or n == 0:
                self._next_free = max(self._next_free, now)
                return 0.0, now / 1_000_000
            self._resync(now)
            moment = self._next_free
            if max_wait is not None and moment - now > max_wait * 1_000_000:
                return None
            spend = min(float(n), self._stored)
            self._next_free = moment + int((n - spend) * self._interval_us)
            self._stored -= spend
            return max(moment - now, 0) / 1_000_000, moment / 1_000_000

    def acquire(self, n: int = 1) -> float:
        """Wait until ``n`` more records are allowed; returns the seconds waited."""
        wait, moment = self._reserve_now(n)
        self._wait(wait, moment)
        return wait

    def try_acquire(self, n: int, timeout: float) -> bool:
        """:meth:`acquire` if the permits are available within ``timeout``
        seconds (then waits for them and returns True); otherwise takes
        nothing and returns False at once (Guava's ``tryAcquire``)."""
        reserved = self._reserve(n, max(timeout, 0.0))
        if reserved is None:
            return False
        self._wait(*reserved)
        return True

    def refund(self, n: int) -> None:
        """Give back ``n`` permits that were acquired but not used (a store
        that then timed out): what later callers were charged for them is
        taken off, and the rest is saved like idle time (up to the burst)."""
        if n < 0:
            raise ValueError(f"cannot refund a negative number of permits ({n})")
        with self._lock:
            if self._rate is None or n == 0:
                return
            now = self._now_us()
            self._resync(now)
            owed = min(n * self._interval_us, self._next_free - now)
            self._next_free -= int(owed)
            self._stored = min(self._max_permits, self._stored + n - owed / self._interval_us)

    def _wait(self, wait: float, moment: float) -> None:
        if wait > 0:
            with self._lock:
                self._waiting += 1
            try:
                if self._sleep_until is not None:
                    self._sleep_until(moment)
                else:
                    self._sleep(wait)
            finally:
                with self._lock:
                    self._waiting -= 1

    @property
    def waiting(self) -> int:
        """Callers currently sleeping in :meth:`acquire`."""
        return self._waiting


class PIDRateEstimator:
    """Spark's proportional-integral-derivative ingestion rate estimator.

    After each batch it compares the rate the previous estimate allowed with the
    rate the batch was processed at (``numElements / processingDelay``) and
    corrects: ``new = latest - P*error - I*historicalError - D*dError``, at
    least ``minRate``, where ``historicalError = schedulingDelay *
    processingRate / batchInterval`` accounts for the backlog. The first
    usable batch only seeds the estimator (returns None); batches with no
    records, no processing time, or not newer than the last one are skipped."""

    def __init__(self, batchIntervalMillis: int, proportional: float = 1.0, integral: float = 0.2,
                 derivative: float = 0.0, minRate: float = 100.0) -> None:
        if batchIntervalMillis <= 0:
            raise ValueError(f"Specified batch interval {batchIntervalMillis} in PIDRateEstimator is invalid.")
        if proportional < 0:
            raise ValueError(f"Proportional term {proportional} in PIDRateEstimator should be >= 0.")
        if integral < 0:
            raise ValueError(f"Integral term {integral} in PIDRateEstimator should be >= 0.")
        if derivative < 0:
            raise ValueError(f"Derivative term {derivative} in PIDRateEstimator should be >= 0.")
        if minRate <= 0:
            raise ValueError("Minimum rate in PIDRateEstimator should be > 0")
        self.batch_interval_ms = batchIntervalMillis
        self.proportional = proportional
        self.integral = integral
        self.derivative = derivative
        self.min_rate = minRate
        self._first_run = True
        self._latest_time = -1
        self._latest_rate = -1.0
        self._latest_error = -1.0
        self._lock = threading.Lock()

    def compute(self, time: int, numElements: int, processingDelay: int, schedulingDelay: int) -> float | None:
        """New rate in records/second from one completed batch (times in ms), or None."""
        with self._lock:
            if not (time > self._latest_time and numElements > 0 and processingDelay > 0):
                return None
            delay_since_update = (time - self._latest_time) / 1000.0
            processing_rate = numElements / processingDelay * 1000.0
            error = self._latest_rate - processing_rate
            historical_error = schedulingDelay * processing_rate / self.batch_interval_ms
            d_error = (error - self._latest_error) / delay_since_update
            new_rate = max(self._latest_rate - self.proportional * error - self.integral * historical_error
                           - self.derivative * d_error, self.min_rate)
            self._latest_time = time
            if self._first_run:
                self._latest_rate = processing_rate
                self._latest_error = 0.0
                self._first_run = False
                return None
            self._latest_rate = new_rate
            self._latest_error = error
            return new_rate


def create_rate_estimator(conf: Any, batch_interval_ms: int) -> PIDRateEstimator:
    """The estimator ``spark.streaming.backpressure.rateEstimator`` names (only ``pid``)."""
    name = conf.get("spark.streaming.backpressure.rateEstimator", "pid")
    if name != "pid":
        raise ValueError(f"Unknown rate estimator: {name} (spark.streaming.backpressure.rateEstimator "
                         "supports only 'pid')")
    return PIDRateEstimator(
        batch_interval_ms,
        conf.getFloat("spark.streaming.backpressure.pid.proportional", 1.0),
        conf.getFloat("spark.streaming.backpressure.pid.integral", 0.2),
        conf.getFloat("spark.streaming.backpressure.pid.derived", 0.0),
        conf.getFloat("spark.streaming.backpressure.pid.minRate", 100.0))


class RateController:
    """Estimates one input stream's rate from each completed batch and hands
    it (truncated to whole records per second, as Spark does) to ``publish``.

    Called with every completed :class:`~fluvial.streaming.listener.BatchInfo`;
    batches in which the stream reported nothing, or whose delays are unknown,
    are skipped."""

    def __init__(self, stream_id: int, estimator: PIDRateEstimator, publish: Callable[[int], None]) -> None:
        self.stream_id = stream_id
        self.estimator = estimator
        self._publish = publish
        self._latest_rate = -1

    def getLatestRate(self) -> int:
        """The last published rate, -1 before the first estimate."""
        return self._latest_rate

    def on_batch_completed(self, info: Any) -> None:
        inputs = info.streamIdToInputInfo()
        if self.stream_id not in inputs:
            return
        end, work, wait = info.processingEndTime(), info.processingDelay(), info.schedulingDelay()
        if end < 0 or work < 0 or wait < 0:
            return
        rate = self.estimator.compute(end, inputs[self.stream_id].numRecords(), work, wait)
        if rate is not None:
            self._latest_rate = int(rate)
            log.debug("stream %d: new rate limit %d records/s", self.stream_id, self._latest_rate)
            self._publish(self._latest_rate)
