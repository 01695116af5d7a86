"""RateLimiter (Guava-style smooth bursty limiter), Spark's PID rate estimator
and the controller that connects them, checked on virtual time against values
worked out by hand from the formulas."""
from __future__ import annotations

import threading

import pytest

from fluvial import SparkConf
from fluvial.streaming.listener import BatchInfo, StreamInputInfo
from fluvial.streaming.rate import PIDRateEstimator, RateController, RateLimiter, create_rate_estimator


class VirtualTime:
    """A clock that moves only when the limiter sleeps."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate: float | None, vt: VirtualTime) -> RateLimiter:
    return RateLimiter(rate, now=vt.time, sleep=vt.sleep)


# ------------------------------------------------------------------ RateLimiter
def test_steady_rate_spaces_records_by_one_interval():
    vt = VirtualTime()
    lim = limiter(10, vt)
    waits = [lim.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.1, 0.1, 0.1])
    assert vt.now == pytest.approx(0.4)


def test_idle_time_saves_at_most_one_second_of_permits():
    vt = VirtualTime()
    lim = limiter(10, vt)
    lim.acquire()                     # next permit free at 0.1
    vt.now = 5.0                      # idle 4.9 s: 49 permits earned, 10 kept
    waits = [lim.acquire() for _ in range(11)]
    assert waits == [0.0] * 11        # 10 saved + the one due now
    assert lim.acquire() == pytest.approx(0.1)


def test_a_large_acquire_is_paid_by_the_next_caller():
    vt = VirtualTime()
    lim = limiter(10, vt)
    assert lim.acquire(20) == 0.0
    assert lim.acquire(1) == pytest.approx(2.0)


def test_try_acquire_takes_nothing_when_the_wait_would_exceed_the_timeout():
    vt = VirtualTime()
    lim = limiter(10, vt)
    assert lim.try_acquire(20, 0.0)             # nothing owed yet: granted, paid by the next caller
    assert not lim.try_acquire(1, 1.9) and vt.slept == []   # 2 s away: refused at once, nothing reserved
    assert lim.try_acquire(1, 2.0) and vt.slept == pytest.approx([2.0])
    assert lim.acquire(1) == pytest.approx(0.1)
    assert limiter(None, vt).try_acquire(10**9, 0.0)


def test_refunded_permits_go_to_the_next_caller():
    vt = VirtualTime()
    lim = limiter(10, vt)
    lim.acquire(20)                   # the next caller owes 2 s
    lim.refund(20)
    assert lim.acquire(1) == 0.0      # owed nothing any more
    assert lim.acquire(1) == pytest.approx(0.1)
    vt.now += 0.3                     # next permit was due at 0.2: 1 saved
    lim.refund(25)                    # saved, up to one second's worth
    assert [lim.acquire() for _ in range(11)] == [0.0] * 11
    assert lim.acquire() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="negative"):
        lim.refund(-1)


def test_new_rate_scales_saved_permits():
    vt = VirtualTime()
    lim = limiter(10, vt)
    lim.acquire()
    vt.now = 3.0                      # bucket full: 10 permits
    lim.set_rate(20)                  # 10 * 20/10 = 20 saved
    assert [lim.acquire() for _ in range(21)] == [0.0] * 21
    assert lim.acquire() == pytest.approx(0.05)


def test_limiting_an_unlimited_limiter_starts_with_a_full_burst():
    vt = VirtualTime()
    lim = limiter(None, vt)
    assert all(lim.acquire() == 0.0 for _ in range(1000))
    lim.set_rate(5)
    assert [lim.acquire() for _ in range(6)] == [0.0] * 6
    assert lim.acquire() == pytest.approx(0.2)


def test_a_new_limiter_has_no_saved_permits():
    vt = VirtualTime()
    lim = limiter(4, vt)
    assert [lim.acquire() for _ in range(3)] == pytest.approx([0.0, 0.25, 0.25])


@pytest.mark.parametrize("rate", [None, 0, -3, float("inf")])
def test_no_rate_means_no_limit(rate):
    vt = VirtualTime()
    lim = limiter(rate, vt)
    assert lim.rate is None
    assert sum(lim.acquire(1000) for _ in range(100)) == 0.0
    assert vt.slept == []


def test_negative_acquire_is_rejected():
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(10).acquire(-1)


def test_concurrent_callers_get_distinct_reservations():
    lim = RateLimiter(10, now=lambda: 0.0, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = lim.acquire()
            with lock:
                waits.append(w)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.1, 6) for i in range(100)]


# ------------------------------------------------------------- PIDRateEstimator
def test_pid_first_batch_only_seeds_the_estimate():
    est = PIDRateEstimator(1000)
    assert est.compute(1000, 2000, 1000, 0) is None
    # seeded with the processing rate 2000/s: a batch at that rate, no delay, keeps it
    assert est.compute(2000, 2000, 1000, 0) == pytest.approx(2000.0)


def test_pid_update_rule_matches_hand_computation():
    est = PIDRateEstimator(1000, proportional=1.0, integral=0.2, derivative=0.0, minRate=100)
    assert est.compute(1000, 2000, 1000, 0) is None          # latestRate = 2000
    # processingRate = 1500/s, error = 2000 - 1500 = 500,
    # historicalError = 500 ms * 1500 / 1000 ms = 750,  new = 2000 - 500 - 0.2*750 = 1350
    assert est.compute(2000, 1500, 1000, 500) == pytest.approx(1350.0)
    # processingRate = 1350/0.9 s = 1500, error = 1350 - 1500 = -150, new = 1350 + 150 = 1500
    assert est.compute(3000, 1350, 900, 0) == pytest.approx(1500.0)


def test_pid_derivative_term_uses_error_change_per_second():
    est = PIDRateEstimator(500, proportional=1.0, integral=0.2, derivative=0.1, minRate=1)
    est.compute(500, 1000, 500, 0)                             # latestRate 2000, latestError 0
    # t=1000: rate 1800/s, error 200, hist = 0, dError = (200 - 0) / 0.5 s = 400
    # new = 2000 - 200 - 0 - 0.1*400 = 1760
    assert est.compute(1000, 900, 500, 0) == pytest.approx(1760.0)
    # t=2000 (1 s later): rate 1500/s, error 1760-1500 = 260, hist = 250*1500/500 = 750,
    # dError = (260 - 200)/1.0 = 60; new = 1760 - 260 - 150 - 6 = 1344
    assert est.compute(2000, 1500, 1000, 250) == pytest.approx(1344.0)


def test_pid_never_goes_below_min_rate():
    est = PIDRateEstimator(1000, minRate=100)
    est.compute(1000, 1000, 1000, 0)
    assert est.compute(2000, 10, 1000, 60_000) == 100.0


@pytest.mark.parametrize("time_ms,n,proc", [(2000, 0, 1000), (2000, 500, 0), (1000, 500, 1000), (900, 500, 1000)])
def test_pid_skips_unusable_batches_without_changing_state(time_ms, n, proc):
    est = PIDRateEstimator(1000)
    est.compute(1000, 2000, 1000, 0)
    assert est.compute(time_ms, n, proc, 0) is None
    assert est.compute(3000, 2000, 1000, 0) == pytest.approx(2000.0)


@pytest.mark.parametrize("kwargs,message", [
    ({"batchIntervalMillis": 0}, "batch interval"),
    ({"batchIntervalMillis": 1000, "proportional": -1}, "Proportional"),
    ({"batchIntervalMillis": 1000, "integral": -0.1}, "Integral"),
    ({"batchIntervalMillis": 1000, "derivative": -0.1}, "Derivative"),
    ({"batchIntervalMillis": 1000, "minRate": 0}, "Minimum rate"),
])
def test_pid_rejects_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PIDRateEstimator(**kwargs)


def test_estimator_reads_pid_settings_from_conf():
    conf = SparkConf().set("spark.streaming.backpressure.pid.proportional", "0.5") \
        .set("spark.streaming.backpressure.pid.integral", "0") \
        .set("spark.streaming.backpressure.pid.minRate", "7")
    est = create_rate_estimator(conf, 2000)
    assert (est.batch_interval_ms, est.proportional, est.integral, est.derivative, est.min_rate) == \
        (2000, 0.5, 0.0, 0.0, 7.0)
    with pytest.raises(ValueError, match="Unknown rate estimator: fancy"):
        create_rate_estimator(SparkConf().set("spark.streaming.backpressure.rateEstimator", "fancy"), 1000)


# --------------------------------------------------------------- RateController
def batch(t: int, records: dict[int, int], start: int, end: int, submitted: int | None = None) -> BatchInfo:
    return BatchInfo(t, {sid: StreamInputInfo(sid, n) for sid, n in records.items()},
                     start if submitted is None else submitted, start, end)


def test_controller_publishes_whole_records_per_second_from_batch_delays():
    published: list[int] = []
    rc = RateController(3, PIDRateEstimator(1000), published.append)
    rc.on_batch_completed(batch(1000, {3: 2000}, 10_000, 11_000))            # seeds: 2000/s
    rc.on_batch_completed(batch(2000, {3: 1500}, 12_000, 13_000, submitted=11_500))
    # processing 1500/s, scheduling delay 500 ms -> 1350 (see the PID test above)
    rc.on_batch_completed(batch(3000, {3: 1000}, 14_000, 14_300))
    # processing 3333.33/s, error = 1350 - 3333.33, new = 3333.33 -> published as 3333
    assert published == [1350, 3333]
    assert rc.getLatestRate() == 3333


def test_controller_ignores_batches_without_its_stream_or_unfinished():
    published: list[int] = []
    rc = RateController(0, PIDRateEstimator(1000), published.append)
    rc.on_batch_completed(batch(1000, {1: 500}, 0, 100))
    rc.on_batch_completed(batch(2000, {0: 500}, 0, -1))
    assert rc.estimator._first_run and published == [] and rc.getLatestRate() == -1


def test_sleep_until_gets_the_absolute_moment_so_a_clock_jump_is_not_overslept():
    vt = VirtualTime()
    moments: list[float] = []
    lim = RateLimiter(4, now=vt.time, sleep_until=moments.append)
    lim.acquire()
    lim.acquire()                     # due at 0.25 s whatever the clock reads when the wait starts
    vt.now = 7.0
    lim.acquire()                     # permits saved meanwhile: no wait
    assert moments == [0.25]
