"""StreamingListener events: their order, and the BatchInfo they carry
(numRecords, delays in ms, -1 while unknown), on a ManualClock."""
from __future__ import annotations

import threading

import pytest

from fluvial.streaming import Receiver, StreamingContext, StreamingListener
from fluvial.testing import ManualClock, queue_source


class Recorder(StreamingListener):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple] = []
        self.infos: list = []
        self.threads: set[str] = set()

    def _note(self, name, *detail):
        self.events.append((name, *detail))
        self.threads.add(threading.current_thread().name)

    def onStreamingStarted(self, e):
        self._note("streamingStarted")
        self.started_time = e.time()

    def onBatchSubmitted(self, e):
        info = e.batchInfo()
        self._note("batchSubmitted", info.batchTime().milliseconds())
        self.infos.append(("submitted", info, info.processingStartTime(), info.processingDelay(),
                           info.schedulingDelay(), info.totalDelay()))

    def onBatchStarted(self, e):
        info = e.batchInfo()
        self._note("batchStarted", info.batchTime().milliseconds())
        self.infos.append(("started", info, info.processingStartTime(), info.processingDelay(),
                           info.schedulingDelay(), info.totalDelay()))

    def onBatchCompleted(self, e):
        info = e.batchInfo()
        self._note("batchCompleted", info.batchTime().milliseconds())
        self.infos.append(("completed", info, info.processingStartTime(), info.processingDelay(),
                           info.schedulingDelay(), info.totalDelay()))

    def onOutputOperationStarted(self, e):
        op = e.outputOperationInfo()
        self._note("opStarted", op.batchTime().milliseconds(), op.id(), op.endTime())

    def onOutputOperationCompleted(self, e):
        op = e.outputOperationInfo()
        self._note("opCompleted", op.batchTime().milliseconds(), op.id(), op.name(), op.failureReason(),
                   op.endTime() >= op.startTime() >= 0)


class ListReceiver(Receiver):
    """Stores its records as one block when started."""

    def __init__(self, records):
        super().__init__()
        self.records = records

    def onStart(self):
        self.storeAll(self.records)


def test_events_arrive_in_order_with_batch_infos(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    rec = Recorder()
    ssc.addStreamingListener(rec)
    try:
        stream = ssc.receiverStream(ListReceiver(list(range(7))))
        stream.foreachRDD(lambda rdd: rdd.count())
        stream.map(str).foreachRDD(lambda t, rdd: rdd.collect())
        ssc.start()
        clock.advance(1)        # one batch at a time: batch 2 could be submitted while batch 1 runs
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    names = [e[:2] if e[0] != "streamingStarted" else e[:1] for e in rec.events]
    assert names == [("streamingStarted",),
                     ("batchSubmitted", 1000), ("batchStarted", 1000), ("opStarted", 1000), ("opCompleted", 1000),
                     ("opStarted", 1000), ("opCompleted", 1000), ("batchCompleted", 1000),
                     ("batchSubmitted", 2000), ("batchStarted", 2000), ("opStarted", 2000), ("opCompleted", 2000),
                     ("opStarted", 2000), ("opCompleted", 2000), ("batchCompleted", 2000)]
    ops = [e for e in rec.events if e[0] == "opCompleted"]
    assert [e[2] for e in ops] == [0, 1, 0, 1]
    assert ops[0][3].startswith("foreachRDD at test_listener.py:")
    assert all(e[4] is None and e[5] for e in ops)
    assert all(e[3] == -1 for e in rec.events if e[0] == "opStarted")
    assert len(rec.threads) == 1                     # all delivered on the bus thread

    by_kind = {}
    for kind, info, start, proc, sched, total in rec.infos:
        by_kind.setdefault(kind, []).append((info, start, proc, sched, total))
    assert [i.numRecords() for i, *_ in by_kind["completed"]] == [7, 0]
    assert [list(i.streamIdToInputInfo()) for i, *_ in by_kind["completed"]] == [[0], [0]]
    for info, start, proc, sched, total in by_kind["submitted"]:
        assert (start, proc, sched, total) == (-1, -1, -1, -1)
        assert info.submissionTime() > 0
    for info, start, proc, sched, total in by_kind["started"]:
        assert start >= info.submissionTime() and proc == -1 and sched >= 0 and total == -1
    for info, start, proc, sched, total in by_kind["completed"]:
        assert proc >= 0 and sched >= 0 and total == sched + proc
        assert info.processingEndTime() >= start >= info.submissionTime()
        assert sorted(info.outputOperationInfos()) == [0, 1]


def test_batches_without_jobs_post_no_events(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    rec = Recorder()
    ssc.addStreamingListener(rec)
    try:
        queue_source(ssc, [[1], [2], [3], [4]]).window(2, 2).foreachRDD(lambda rdd: None)
        ssc.start()
        clock.advance(4)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [e[1] for e in rec.events if e[0] == "batchCompleted"] == [2000, 4000]


def test_a_failing_listener_does_not_stop_the_stream_or_other_listeners(sc):
    class Broken(StreamingListener):
        def onBatchCompleted(self, e):
            raise RuntimeError("listener bug")
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    rec = Recorder()
    ssc.addStreamingListener(Broken())
    ssc.addStreamingListener(rec)
    seen = []
    try:
        queue_source(ssc, [[1], [2]]).foreachRDD(lambda rdd: seen.append(rdd.collect()))
        ssc.start()
        clock.advance(2)
        assert ssc.awaitTerminationOrTimeout(0) is False
    finally:
        ssc.stop(stopSparkContext=False)
    assert seen == [[1], [2]]
    assert [e[1] for e in rec.events if e[0] == "batchCompleted"] == [1000, 2000]


def test_removed_listener_hears_nothing_more(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    rec = Recorder()
    ssc.addStreamingListener(rec)
    try:
        queue_source(ssc, [[1], [2]]).foreachRDD(lambda rdd: None)
        ssc.start()
        clock.advance(1)
        ssc.removeStreamingListener(rec)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [e[1] for e in rec.events if e[0] == "batchCompleted"] == [1000]


def test_failed_output_operation_reports_its_failure_reason(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    rec = Recorder()
    ssc.addStreamingListener(rec)
    try:
        queue_source(ssc, [[1]]).foreachRDD(lambda rdd: 1 / 0)
        ssc.start()
        clock.advance(1)
        with pytest.raises(Exception):
            ssc.awaitTermination(5)
    finally:
        ssc.stop(stopSparkContext=False)
    failed = [e for e in rec.events if e[0] == "opCompleted"]
    assert len(failed) == 1 and "ZeroDivisionError" in failed[0][4]
    assert [e[0] for e in rec.events][-1] == "batchCompleted"


def test_stop_from_a_listener_is_refused(sc):
    errors = []

    class Stopper(StreamingListener):
        def onBatchCompleted(self, e):
            try:
                ssc.stop(stopSparkContext=False)
            except RuntimeError as exc:
                errors.append(str(exc))
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    ssc.addStreamingListener(Stopper())
    try:
        queue_source(ssc, [[1]]).foreachRDD(lambda rdd: None)
        ssc.start()
        clock.advance(1)
        assert ssc.getState() == "ACTIVE"
    finally:
        ssc.stop(stopSparkContext=False)
    assert errors == ["Cannot stop StreamingContext within listener bus thread."]


def test_jobs_of_an_output_operation_carry_the_batch_and_operation(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    seen = []

    def out(rdd):
        seen.append((sc.getLocalProperty("spark.streaming.internal.batchTime"),
                     sc.getLocalProperty("spark.streaming.internal.outputOpId"),
                     sc.getLocalProperty("spark.job.description")))
    try:
        s = queue_source(ssc, [[1], [2]])
        s.foreachRDD(lambda rdd: None)
        s.foreachRDD(out)
        ssc.start()
        clock.advance(2)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [x[:2] for x in seen] == [("1000", "1"), ("2000", "1")]
    assert seen[0][2].startswith("Streaming job from [output operation 1, batch time ")
