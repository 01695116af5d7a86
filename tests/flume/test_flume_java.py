"""The receivers against Apache Avro's own Java IPC (avro-ipc 1.8.2 on Netty
3: ``NettyTransceiver``/``GenericRequestor`` as Flume's AvroSink uses them,
``NettyServer``/``GenericResponder`` as Spark's SparkSink does), in a harness
of ours (``java_peers/FlumePeer.java``). Protocol texts carry a doc, as the
ones compiled from Flume's and Spark's IDL do."""
from __future__ import annotations

import collections
import json
import subprocess

import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeInputDStream, FlumeUtils, utf8_decoder
from fluvial.streaming.flume.poll import PollOptions
from fluvial.testing import ListSink, ManualClock

from flume_peers import FailingFirstStore, ReceiverErrors, SparkSinkPeer, bound_port
from java_harness import classpath, java, needs_jdk
from support import make_context, wait_until

pytestmark = needs_jdk


@pytest.fixture(scope="module")
def cp() -> str:
    return classpath()


@pytest.fixture(scope="module")
def sc():
    context = make_context("inprocess")
    yield context
    context.stop()


@pytest.mark.parametrize("flags", [(), ("--deflate",), ("--no-doc",)], ids=["doc-NONE-path", "deflate", "hash-equal"])
def test_java_avro_sink_calls_are_answered_ok_and_every_event_arrives(sc, cp, flags):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, enableDecompression="--deflate" in flags)
    sink = ListSink(stream)
    ssc.start()
    try:
        proc = subprocess.run(java(cp, "sink", "127.0.0.1", str(bound_port(stream)), "5", "20", *flags),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [(l["call"], l["status"]) for l in lines] == [("appendBatch", "OK")] * 5 + [("append", "OK")]
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [r for b in sink.batches for r in b] == [({"seq": str(i), "src": "java"}, f"event-{i}") for i in range(101)]


def test_java_spark_sink_is_polled_acked_once_per_batch_and_a_failed_store_is_nacked(sc, cp):
    peer = SparkSinkPeer(0, command=java(cp, "sparksink", "120", "60000"))
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    stream = FlumeInputDStream(ssc, FailingFirstStore([("127.0.0.1", peer.port)],
                                                      options=PollOptions(25, 2, errorBackoff=0.02)), utf8_decoder)
    sink = ListSink(stream)
    ssc.start()
    try:
        wait_until(lambda: len(peer.ids("ack")) == 120 and peer.count("error-batch") > 0, "the sink's acks",
                   timeout=30)
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
        peer.close()
    assert peer.count("nack") == 1 and len(peer.ids("nack")) == 25
    assert sorted(peer.ids("ack")) == list(range(120))
    counts = collections.Counter(int(h["id"]) for b in sink.batches for h, _ in b)
    assert counts == collections.Counter(range(120))
    assert {b for batch in sink.batches for _, b in batch} == {f"body-{i}" for i in range(120)}
    assert "storing 25 events of batch 'javasink-0' from 127.0.0.1:" in errors.wait_for("failed; sending nack")
