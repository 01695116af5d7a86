"""Rate control and bounded buffering of receivers, measured in records per
batch on a ManualClock (the receivers' limiters run on the context's clock),
never in wall time."""
from __future__ import annotations

import threading
import time

import pytest

from fluvial import SparkConf
from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.listener import BatchInfo, StreamInputInfo
from fluvial.streaming.rate import PIDRateEstimator, RateController, RateLimiter
from fluvial.streaming.sources.receiver import Receiver, ReceiverStoppedError
from fluvial.streaming.sources.supervisor import BlockGenerator, ReceiverSettings, ReceiverSupervisor, StoreTimeoutError
from fluvial.testing import ListSink, ManualClock

from support import make_context, wait_until


@pytest.fixture
def new_sc():
    made = []

    def make(**conf: str):
        sc = make_context("inprocess", **conf)
        made.append(sc)
        return sc
    yield make
    for sc in made:
        sc.stop()



class Firehose(Receiver):
    """Stores 0, 1, 2, ... as fast as allowed; ``stored`` counts accepted records."""

    def __init__(self) -> None:
        super().__init__()
        self.stored = 0
        self.halt = threading.Event()
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def onStart(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-firehose")
        self._thread.start()

    def onStop(self) -> None:
        self.halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self.halt.is_set():
                self.store(self.stored)
                self.stored += 1
        except ReceiverStoppedError:
            pass
        finally:
            self.done.set()


def blocked_again(rx: Firehose, limiter, before: int):
    """The producer stored something new and now sleeps for its next permit,
    i.e. it used every permit available at the current clock time."""
    return lambda: rx.stored > before and limiter.waiting == 1


def test_max_rate_throttles_a_fast_producer_to_rate_records_per_batch(new_sc):
    clock = ManualClock()
    ssc = StreamingContext(new_sc(**{"spark.streaming.receiver.maxRate": "100"}), 1, clock=clock)
    rx = Firehose()
    stream = ssc.receiverStream(rx)
    sink = ListSink(stream)
    ssc.start()
    limiter = ssc._receiver_tracker.supervisors[stream.id].limiter
    try:
        wait_until(lambda: limiter.waiting == 1, "the producer to wait for a permit")
        assert rx.stored == 1                      # a new limiter has no saved permits
        for k in range(1, 6):
            before = rx.stored
            clock.advance(1)
            wait_until(blocked_again(rx, limiter, before), "the producer to use this second's permits")
            # one permit per 10 ms of clock time, the first one free
            assert rx.stored == 1 + 100 * k
        rx.halt.set()
        clock.advance(1)                           # the producer stores its reserved record and exits
        assert rx.done.wait(10)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    counts = [len(b) for b in sink.batches]
    assert sum(counts) == rx.stored == 502
    assert [r for b in sink.batches for r in b] == list(range(502))
    cumulative = [sum(counts[:j + 1]) for j in range(len(counts))]
    for j, c in enumerate(cumulative[:5], start=1):
        # everything stored at clock j-1 is in batches <= j; nothing stored after clock j is
        lowest, highest = 1 + 100 * (j - 1), 1 + 100 * j
        assert lowest <= c <= highest


def test_stalled_job_blocks_store_instead_of_buffering_without_limit(new_sc):
    clock = ManualClock()
    sc = new_sc(**{"spark.streaming.blockQueueSize": "2", "spark.streaming.blockInterval": "1h"})
    ssc = StreamingContext(sc, 1, clock=clock)
    rx = Firehose()
    stream = ssc.receiverStream(rx)
    gate = threading.Event()
    stream.foreachRDD(lambda rdd: gate.wait(30))
    sink = ListSink(stream)
    ssc.start()
    tracker = ssc._receiver_tracker
    blocks = tracker.supervisors[stream.id].blocks
    try:
        for t in (1000, 2000, 3000):               # the job thread is stuck in batch 1000
            mark = rx.stored
            wait_until(lambda: rx.stored > mark, "a record for the next batch")
            clock.set_time(t)
            wait_until(lambda: ssc._scheduler.last_generated == t, f"batch {t} to be generated")
        # two blocks wait behind the stuck batch: the producer must block
        assert blocks.wait_for_blocked_producer(10)
        held = rx.stored
        # at most the one record admitted just before the queue filled waits in the buffer
        pending = blocks.pending_records()
        assert pending <= 1
        assert tracker.unprocessed_records(stream.id) == held
        rx.halt.set()
        gate.set()                                 # batch 1000 completes: room for one more record
        assert rx.done.wait(10)
        clock.advance(1)
    finally:
        gate.set()
        ssc.stop(stopSparkContext=False)
    assert rx.stored == held + 1
    assert sink.times == [1000, 2000, 3000, 4000]
    assert [r for b in sink.batches for r in b] == list(range(rx.stored))
    assert sink.batches[-1] == list(range(held - pending, held + 1))


def test_backpressure_publishes_pid_estimates_of_completed_batches_to_the_limiter(new_sc):
    conf = {"spark.streaming.backpressure.enabled": "true",
            "spark.streaming.backpressure.initialRate": "50",
            "spark.streaming.receiver.maxRate": "200",
            "spark.streaming.backpressure.pid.minRate": "10"}
    clock = ManualClock()
    ssc = StreamingContext(new_sc(**conf), 1, clock=clock)
    rx = Firehose()
    stream = ssc.receiverStream(rx)

    def work(rdd):                                  # at least 2 ms of processing per batch
        rdd.collect()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.002:
            pass
    stream.foreachRDD(work)
    sink = ListSink(stream)
    infos: list[BatchInfo] = []

    class Completed(StreamingListener):
        def onBatchCompleted(self, e):
            infos.append(e.batchInfo())
    ssc.addStreamingListener(Completed())
    ssc.start()
    limiter = ssc._receiver_tracker.supervisors[stream.id].limiter
    rates = []
    try:
        assert limiter.rate == 50
        wait_until(lambda: limiter.waiting == 1, "the producer to wait for a permit")
        for _ in range(6):
            before = rx.stored
            clock.advance(1)
            rates.append(limiter.rate)             # set when the batch completed, before advance returned
            wait_until(blocked_again(rx, limiter, before), "the producer to use this second's permits")
    finally:
        ssc.stop(stopSparkContext=False)
    replay = PIDRateEstimator(1000, minRate=10)
    expected, rate = [], 50.0
    for info in infos[:6]:
        new = replay.compute(info.processingEndTime(), info.numRecords(), info.processingDelay(),
                             info.schedulingDelay())
        if new is not None:
            rate = min(int(new), 200)
        expected.append(rate)
    assert rates == expected
    assert expected[0] == 50                       # the first batch only seeds the estimator
    counts = [len(b) for b in sink.batches]
    assert counts[0] <= 51 and all(c <= 2 * 200 + 1 for c in counts)
    assert sum(counts) <= 1 + 50 + 200 * 6


def test_slow_processing_lowers_the_receiver_rate_and_its_records_per_batch():
    """Receiver-level: the PID sees batches processed at 500 then 250 records/s,
    lowers the limiter to 250/s, and the next second of input holds ~250 records."""
    clock = ManualClock()
    conf = SparkConf().set("spark.streaming.backpressure.enabled", "true") \
        .set("spark.streaming.backpressure.initialRate", "1000")
    rx = Firehose()
    rx._stream_id = 0
    sup = ReceiverSupervisor(rx, lambda event: None, ReceiverSettings.from_conf(conf), clock)
    controller = RateController(0, PIDRateEstimator(1000, minRate=10), sup.update_rate)
    sup.start()
    try:
        wait_until(lambda: sup.limiter.waiting == 1, "the producer to wait for a permit")
        counts = []
        for second in range(1, 4):
            before = rx.stored
            clock.set_time(second * 1000)
            wait_until(blocked_again(rx, sup.limiter, before), "the producer to use this second's permits")
            counts.append(sum(len(b) for b in sup.blocks.take(second * 1000)))
            sup.blocks.completed(second * 1000)
            if second == 1:
                # two batches as the job thread would report them: 1000 records in 2 s, then 500 in 2 s
                for t, n in ((10_000, 1000), (12_000, 500)):
                    controller.on_batch_completed(BatchInfo(t, {0: StreamInputInfo(0, n)}, t - 2000, t - 2000, t))
    finally:
        sup.stop()
    # seeded at 500/s; then error = 500 - 250, new rate = 500 - 250 = 250 records/s
    assert controller.getLatestRate() == 250 and sup.limiter.rate == 250
    assert counts[0] == 1 + 1000                   # second 0: 1 record, second 1: 1000 (initialRate)
    assert abs(counts[1] - 250) <= 1 and abs(counts[2] - 250) <= 1


def test_max_rate_caps_backpressure_updates():
    conf = SparkConf().set("spark.streaming.backpressure.enabled", "true") \
        .set("spark.streaming.receiver.maxRate", "300").set("spark.streaming.backpressure.initialRate", "5000")
    rx = Firehose()
    sup = ReceiverSupervisor(rx, lambda event: None, ReceiverSettings.from_conf(conf), ManualClock())
    assert sup.limiter.rate == 300                 # initialRate is capped by maxRate too
    sup.update_rate(120)
    assert sup.limiter.rate == 120
    sup.update_rate(10_000)
    assert sup.limiter.rate == 300
    sup.update_rate(0)
    assert sup.limiter.rate == 300


def test_a_block_with_a_timeout_is_refused_whole_when_the_limit_or_the_queue_would_hold_it_longer():
    vt = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        vt[0] += seconds
    limiter = RateLimiter(10, now=lambda: vt[0], sleep=sleep)
    blocks = BlockGenerator(0, 3_600_000, 1, limiter)
    blocks.start()
    try:
        blocks.add_block(["a"] * 20, timeout=0.0)                   # granted; the next caller pays 2 s
        with pytest.raises(StoreTimeoutError, match=r"rate limit \(10 records/s\) does not let 1 more records "
                                                    r"through within 1 s; not stored"):
            blocks.add_block(["b"], timeout=1.0)
        assert slept == [] and blocks.pending_records() == 20
        blocks.add_block(["b"], timeout=2.0)                        # waits its 2 s
        assert slept == pytest.approx([2.0])
        limiter.set_rate(None)
        assert blocks.take(1000) == [["a"] * 20, ["b"]]
        blocks.add_block(["c"])
        assert blocks.take(2000) == [["c"]]                         # one block queued behind batch 1000: full
        with pytest.raises(StoreTimeoutError, match=r"spark.streaming.blockQueueSize=1\); no room within the "
                                                    "timeout, not stored"):
            blocks.add_block(["d"], timeout=0.05)
        assert blocks.pending_records() == 0
        limiter.set_rate(10)
        limiter.acquire(10)                                         # the saved burst, spent
        with pytest.raises(StoreTimeoutError, match="no room within the timeout"):
            blocks.add_block(["e"] * 5, timeout=0.2)                # permits granted (0.1 s), then no room
        assert limiter.try_acquire(5, 0.0)                          # they were given back
        limiter.set_rate(None)
        blocks.completed(1000)
        blocks.add_block(["d"], timeout=0.05)
        assert blocks.take(3000) == [["d"]]
    finally:
        blocks.stop()
