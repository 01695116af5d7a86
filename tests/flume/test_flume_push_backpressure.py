"""The store rule of the push receiver (the Thrift receiver's too): a
request may wait up to ``storeTimeout`` for the rate limit and block-queue
space, then it is answered FAILED with nothing stored, and the Flume sink
sends it again. A wait the rate limit already knows to be longer is refused
at once. A request still waiting when the stream stops is answered FAILED."""
from __future__ import annotations

import threading

import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeUtils
from fluvial.testing import ListSink, ManualClock

from avro_bytes import FAILED, HS_BOTH, OK
from flume_peers import ReceiverErrors, bound_port, send_batch
from support import make_context, wait_until


@pytest.fixture(scope="module")
def sc():
    context = make_context("inprocess", **{"spark.streaming.receiver.maxRate": "10"})
    yield context
    context.stop()


def test_a_request_the_rate_limit_would_hold_beyond_store_timeout_is_failed_at_once_and_not_stored(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, storeTimeout=0.3)
    sink = ListSink(stream)
    ssc.start()
    try:
        events = [({"n": str(i)}, b"e%d" % i) for i in range(55)]
        port = bound_port(stream)
        blocks = stream.getReceiver()._supervisor.blocks
        assert send_batch(port, events[:50]) == HS_BOTH + OK     # the limiter lets a first burst through...
        assert send_batch(port, events[50:]) == HS_BOTH + FAILED  # ...and the next would wait 5 s of manual time
        assert "5 events from 127.0.0.1:" in errors.wait_for("not stored within storeTimeout=0.3 s")
        assert blocks.pending_records() == 50                     # nothing of the refused request
        ssc.clock.advance(10)                                     # batch 1 takes the first 50; permits are free
        assert send_batch(port, events[50:]) == HS_BOTH + OK     # the sink's retry
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [r for b in sink.batches for r in b] == [({"n": str(i)}, f"e{i}") for i in range(55)]


def test_a_request_finding_no_block_queue_space_within_store_timeout_is_failed_and_not_stored(sc):
    gate = threading.Event()
    sc._conf.set("spark.streaming.receiver.maxRate", "0")
    sc._conf.set("spark.streaming.blockQueueSize", "1")
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, storeTimeout=0.3)
    sink = ListSink(stream)
    stream.foreachRDD(lambda rdd: gate.wait(30))                  # the job thread stalls in batch 1000
    try:
        ssc.start()
    finally:
        sc._conf.set("spark.streaming.receiver.maxRate", "10")
        sc._conf.set("spark.streaming.blockQueueSize", "10")
    try:
        port = bound_port(stream)
        blocks = stream.getReceiver()._supervisor.blocks
        for t, tag in ((1000, b"a"), (2000, b"b")):               # batch 2000 waits behind the stuck one
            assert send_batch(port, [({}, tag)]) == HS_BOTH + OK
            ssc.clock.set_time(t)
            wait_until(lambda: ssc._scheduler.last_generated == t, f"batch {t} to be generated")
        assert send_batch(port, [({}, b"c")]) == HS_BOTH + FAILED  # no room within 0.3 s
        assert blocks.pending_records() == 0
        gate.set()
        wait_until(lambda: len(sink.batches) == 2, "the stalled batches to complete")
        assert send_batch(port, [({}, b"c")]) == HS_BOTH + OK     # the sink's retry
        ssc.clock.advance(1)
    finally:
        gate.set()
        ssc.stop(stopSparkContext=False)
    assert [r for b in sink.batches for r in b] == [({}, "a"), ({}, "b"), ({}, "c")]


def test_request_waiting_to_be_stored_when_the_stream_stops_is_answered_failed(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0)          # storeTimeout 10 s: the stop comes first
    ListSink(stream)
    ssc.start()
    stopped = False
    try:
        port = bound_port(stream)
        assert send_batch(port, [({}, b"burst")] * 50) == HS_BOTH + OK
        limiter = stream.getReceiver()._supervisor.limiter
        answer: list[bytes] = []
        waiting = threading.Thread(target=lambda: answer.append(send_batch(port, [({}, b"late")] * 5)))
        waiting.start()
        wait_until(lambda: limiter.waiting == 1, "the second request to wait for the rate limit")
        ssc.stop(stopSparkContext=False)
        stopped = True
        waiting.join(10)
        assert answer == [HS_BOTH + FAILED]
    finally:
        if not stopped:
            ssc.stop(stopSparkContext=False)
