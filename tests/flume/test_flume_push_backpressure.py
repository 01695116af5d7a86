"""A request the push receiver cannot store in time (here: the rate limit on
a manual clock that does not move) is answered FAILED, so the Flume sink
rolls back and retries; the store still pending may complete later
(at-least-once: the sink's retry then duplicates it)."""
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


def test_request_not_stored_within_store_timeout_is_answered_failed(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, storeTimeout=0.3)
    sink = ListSink(stream)
    ssc.start()
    try:
        events = [({"n": str(i)}, b"e%d" % i) for i in range(55)]
        port = bound_port(stream)
        assert send_batch(port, events[:50]) == HS_BOTH + OK     # the limiter lets a first burst through...
        assert send_batch(port, events[50:]) == HS_BOTH + FAILED  # ...and the next waits 5 s of manual time
        assert "5 events from 127.0.0.1:" in errors.wait_for("not stored within storeTimeout=0.3 s")
        ssc.clock.advance(10)       # batch 1 takes the first 50; the limiter lets the pending store go
        blocks = stream.getReceiver()._supervisor.blocks
        wait_until(lambda: sum(map(len, sink.batches)) + blocks.pending_records() == 55, "the late store")
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [r for b in sink.batches for r in b] == [({"n": str(i)}, f"e{i}") for i in range(55)]


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
