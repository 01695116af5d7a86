"""Custom receivers end to end on a ManualClock, on both executors: every
record stored before a batch time lands in that batch, exactly once, in
storing order per receiver; failing receivers are reported and restarted."""
from __future__ import annotations

import queue
import threading

import pytest

from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.sources.receiver import Receiver
from fluvial.testing import ListSink, ManualClock

from support import EXECUTORS, make_context


@pytest.fixture(scope="module", params=EXECUTORS)
def rsc(request: pytest.FixtureRequest):
    context = make_context(request.param, **{"spark.streaming.receiverRestartDelay": "20ms"})
    yield context
    context.stop()


class FeedReceiver(Receiver):
    """Stores what the test feeds it, from its own thread; ``feed`` returns
    once everything fed has been stored (``store`` per record or one ``storeAll``)."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    def onStart(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True, name="test-feed-receiver")
        self.thread.start()

    def onStop(self) -> None:
        thread, self.thread = self.thread, None
        if thread is None:
            return
        self.inbox.put(None)
        if thread is not threading.current_thread():
            thread.join()

    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            try:
                if item is None:
                    return
                kind, records = item
                if kind == "all":
                    self.storeAll(records)
                else:
                    for r in records:
                        self.store(r)
            finally:
                self.inbox.task_done()

    def feed(self, records, as_block: bool = False) -> None:
        self.inbox.put(("all" if as_block else "one", list(records)))
        self.inbox.join()


class Events(StreamingListener):
    def __init__(self) -> None:
        self.log: list[tuple[str, int, str]] = []

    def _add(self, kind: str, event) -> None:
        info = event.receiverInfo()
        self.log.append((kind, info.streamId(), info.lastErrorMessage()))

    def onReceiverStarted(self, e):
        self._add("started", e)

    def onReceiverError(self, e):
        self._add("error", e)

    def onReceiverStopped(self, e):
        self._add("stopped", e)


def test_records_stored_before_a_batch_time_land_in_that_batch_once_in_order(rsc):
    clock = ManualClock()
    ssc = StreamingContext(rsc, 1, clock=clock)
    rec = FeedReceiver()
    sink = ListSink(ssc.receiverStream(rec))
    counts = ListSink(ssc.receiverStream(FeedReceiver()).count())
    ssc.start()
    try:
        rec.feed(range(0, 5))
        clock.advance(1)
        rec.feed(range(5, 8))
        rec.feed(range(8, 12), as_block=True)
        rec.feed(range(12, 13))
        clock.advance(1)
        clock.advance(1)                           # nothing stored: an empty batch
        rec.feed(range(13, 1013))
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [list(range(0, 5)), list(range(5, 13)), [], list(range(13, 1013))]
    assert sink.times == [1000, 2000, 3000, 4000]
    # a batch without blocks has no partitions, so count() yields nothing (as Spark's empty BlockRDD)
    assert counts.batches == [[]] * 4


def test_concurrent_producer_loses_and_repeats_nothing(rsc):
    clock = ManualClock()
    ssc = StreamingContext(rsc, 1, clock=clock)
    rec = FeedReceiver()
    sink = ListSink(ssc.receiverStream(rec))
    ssc.start()
    try:
        producer = threading.Thread(target=rec.feed, args=(range(20_000),))
        producer.start()
        for _ in range(3):
            clock.advance(1)                       # batches cut while records arrive
        producer.join()
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [r for b in sink.batches for r in b] == list(range(20_000))


def test_each_receiver_keeps_its_own_order_and_batch_counts(rsc):
    clock = ManualClock()
    ssc = StreamingContext(rsc, 1, clock=clock)
    a, b = FeedReceiver(), FeedReceiver()
    sa = ssc.receiverStream(a)
    sb = ssc.receiverStream(b)
    both = ListSink(sa.union(sb))
    infos: list = []

    class Batches(StreamingListener):
        def onBatchCompleted(self, e):
            infos.append({k: v.numRecords() for k, v in e.batchInfo().streamIdToInputInfo().items()})
    ssc.addStreamingListener(Batches())
    ssc.start()
    try:
        a.feed(["a1", "a2"])
        b.feed(["b1"])
        a.feed(["a3"], as_block=True)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert both.batches == [["a1", "a2", "a3", "b1"]]
    assert infos == [{sa.id: 3, sb.id: 1}]


class FlakyStart(FeedReceiver):
    """onStart raises the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0
        self.running = threading.Event()

    def onStart(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError(f"source unavailable (attempt {self.attempts})")
        super().onStart()
        self.running.set()


def test_receiver_failing_in_on_start_is_reported_and_restarted(rsc):
    clock = ManualClock()
    ssc = StreamingContext(rsc, 1, clock=clock)
    rec = FlakyStart(failures=2)
    sink = ListSink(ssc.receiverStream(rec))
    events = Events()
    ssc.addStreamingListener(events)
    ssc.start()
    try:
        assert rec.running.wait(10), "receiver was not restarted after failing in onStart"
        rec.feed(["after restart"])
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert rec.attempts == 3
    assert sink.batches == [["after restart"]]
    errors = [msg for kind, _, msg in events.log if kind == "error"]
    assert len(errors) == 2 and all("Error starting receiver" in m and "source unavailable" in m for m in errors)
    kinds = [kind for kind, _, _ in events.log]
    assert kinds == ["started", "error", "stopped"] * 2 + ["started", "stopped"]
    assert events.log[-1][2] == "Stopped by driver"
