"""FlumeUtils.createPollingStream against avsc playing Spark's SparkSink (a
real non-fluvial Avro Netty server with test-owned transaction semantics:
nack and ack timeout roll back and redeliver, an empty or stopped sink
answers with an error batch)."""
from __future__ import annotations

import collections
import socket
import threading

import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeInputDStream, FlumeUtils, utf8_decoder
from fluvial.streaming.flume.poll import FlumePollingReceiver, PollOptions
from fluvial.testing import ListSink, ManualClock

from flume_peers import FailingFirstStore, ReceiverErrors, SparkSinkPeer, needs_avsc
from support import wait_until

pytestmark = needs_avsc


@pytest.fixture
def peers():
    started: list[SparkSinkPeer] = []

    def start(events: int, *flags: str) -> SparkSinkPeer:
        peer = SparkSinkPeer(events, *flags)
        started.append(peer)
        return peer
    yield start
    for p in started:
        p.close()


def run(sc, make_stream, until, errors: ReceiverErrors | None = None):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    if errors is not None:
        ssc.addStreamingListener(errors)
    stream = make_stream(ssc)
    sink = ListSink(stream)
    ssc.start()
    try:
        wait_until(until, "the sink's acks", timeout=30)
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    return collections.Counter(int(h["id"]) for b in sink.batches for h, _ in b), sink


def test_every_event_is_acked_once_and_stored_once_and_error_batches_are_not_stored(sc, peers):
    peer = peers(250)
    counts, sink = run(sc, lambda ssc: FlumeUtils.createPollingStream(
        ssc, [("127.0.0.1", peer.port)], maxBatchSize=40, parallelism=2, errorBackoff=0.02),
        lambda: len(peer.ids("ack")) == 250 and peer.count("error-batch") > 0)
    assert sorted(peer.ids("ack")) == list(range(250))
    assert counts == collections.Counter(range(250))
    assert all(len(o["ids"]) <= 40 for o in peer.ops if o["op"] == "get")
    assert {(h["id"], b) for batch in sink.batches for h, b in batch} == {(str(i), f"body-{i}") for i in range(250)}


def test_a_batch_that_cannot_be_stored_is_nacked_and_redelivered(sc, peers):
    peer = peers(30)
    errors = ReceiverErrors()
    counts, _ = run(sc, lambda ssc: FlumeInputDStream(ssc, FailingFirstStore(
        [("127.0.0.1", peer.port)], options=PollOptions(10, 1, errorBackoff=0.02)), utf8_decoder),
        lambda: len(peer.ids("ack")) == 30, errors)
    nacked = peer.ids("nack")
    assert len(nacked) == 10 and peer.count("nack") == 1
    assert "storing 10 events of batch 'avscsink-0' from 127.0.0.1:" in errors.wait_for("failed; sending nack")
    assert counts == collections.Counter(range(30))      # the nacked batch came again and was stored once


class SlowFirstStore(FlumePollingReceiver):
    """The first ``storeAll`` takes longer than the sink's ack timeout."""

    def onStart(self) -> None:
        self._slow = threading.Event()
        super().onStart()

    def storeAll(self, items) -> None:
        if not self._slow.is_set():
            self._slow.set()
            wait_until(lambda: any(o["op"] == "timeout" for o in self.peer.ops), "the sink's ack timeout")
        super().storeAll(items)


def test_ack_after_the_sinks_timeout_is_ignored_and_the_batch_comes_again(sc, peers):
    peer = peers(20, "--timeout-ms", "150")
    receiver = SlowFirstStore([("127.0.0.1", peer.port)], options=PollOptions(10, 2, errorBackoff=0.02))
    receiver.peer = peer
    counts, _ = run(sc, lambda ssc: FlumeInputDStream(ssc, receiver, utf8_decoder),
                    lambda: sorted(peer.ids("ack")) == list(range(20)) and peer.count("late-ack") == 1)
    timed_out = peer.ids("timeout")
    assert len(timed_out) == 10
    assert all(counts[i] == 2 for i in timed_out)         # at-least-once: stored, then redelivered
    assert all(counts[i] == 1 for i in range(20) if i not in timed_out)


def test_blocking_get_event_batch_delivers_events_added_later(sc, peers):
    peer = peers(0, "--empty", "block")     # a real SparkSink blocks on an empty channel
    added: list[bool] = []

    def until() -> bool:
        if not added:
            added.append(True)
            peer.command("add 15")
        return len(peer.ids("ack")) == 15
    counts, _ = run(sc, lambda ssc: FlumeUtils.createPollingStream(
        ssc, [("127.0.0.1", peer.port)], maxBatchSize=100, parallelism=1, errorBackoff=0.02), until)
    assert counts == collections.Counter(range(15))
    assert peer.count("error-batch") == 0


def test_stopped_sink_error_batches_are_logged_not_stored_and_a_dead_address_is_reported(sc, peers, caplog):
    peer = peers(12)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))     # bound, never listening: connections are refused, and no one else gets the port
    dead_port = dead.getsockname()[1]
    errors = ReceiverErrors()

    def until() -> bool:
        if len(peer.ids("ack")) == 12 and not getattr(peer, "stopped", False):
            peer.stopped = True
            peer.command("stop")
            peer.command("add 5")       # never delivered: the sink is stopped
        return any("stopped" in o.get("msg", "") for o in peer.ops) and any(
            f"127.0.0.1:{dead_port}" in m for m in errors.messages)
    with caplog.at_level("WARNING", logger="fluvial.streaming.flume"):
        counts, _ = run(sc, lambda ssc: FlumeUtils.createPollingStream(
            ssc, [("127.0.0.1", dead_port), ("127.0.0.1", peer.port)], maxBatchSize=5, parallelism=2,
            errorBackoff=0.02), until, errors)
    dead.close()
    assert counts == collections.Counter(range(12))
    assert f"connection to SparkSink 127.0.0.1:{dead_port} failed" in next(
        m for m in errors.messages if str(dead_port) in m)
    assert any("returned an error batch (not stored): Spark sink has been stopped!" in r.getMessage()
               for r in caplog.records)


def test_addresses_are_checked(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    with pytest.raises(ValueError, match=r"addresses entry \('h', '1'\) is not a \(host: str, port: int\) pair"):
        FlumeUtils.createPollingStream(ssc, [("h", "1")])
    with pytest.raises(TypeError, match="non-empty list"):
        FlumeUtils.createPollingStream(ssc, "localhost:9999")
    with pytest.raises(ValueError, match="maxBatchSize must be a positive int, got 0"):
        FlumeUtils.createPollingStream(ssc, [("h", 1)], maxBatchSize=0)
