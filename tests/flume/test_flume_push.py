"""FlumeUtils.createStream: the Avro push receiver against a real non-fluvial
peer (avsc playing Flume's AvroSink) and against hand-made bad input."""
from __future__ import annotations

import socket
import struct
import threading

import pytest

from fluvial.streaming import BatchFailedError, StreamingContext, StreamingListener
from fluvial.streaming.flume import FlumeDecodeError, FlumeUtils
from fluvial.testing import ListSink, ManualClock

from avro_bytes import HS_BOTH, OK, call, event, pack, zz
from flume_peers import RawClient, ReceiverErrors, avro_sink, bound_port, first_request, needs_avsc, send_batch



@pytest.fixture
def push(sc):
    """A started context with one push stream per setting; yields a namespace."""
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)

    class Streams:
        pass
    st = Streams()
    st.ssc, st.errors = ssc, errors
    st.plain = FlumeUtils.createStream(ssc, "127.0.0.1", 0, maxFrameBytes=4096, maxBuffersPerFrame=16)
    st.deflate = FlumeUtils.createStream(ssc, "127.0.0.1", 0, enableDecompression=True, bodyDecoder=bytes)
    st.guarded = FlumeUtils.createStream(ssc, "127.0.0.1", 0, allowedClients=["10.0.0.0/8", "::1"])
    st.single = FlumeUtils.createStream(ssc, "127.0.0.1", 0, maxConnections=1)
    names = ("plain", "deflate", "guarded", "single")
    st.sinks = {name: ListSink(getattr(st, name)) for name in names}
    ssc.start()
    st.port = {name: bound_port(getattr(st, name)) for name in names}
    yield st
    ssc.stop(stopSparkContext=False)


def received(st, name: str) -> list:
    st.ssc.clock.advance(1)
    return [r for b in st.sinks[name].batches for r in b]


def expected_events(n: int) -> list:
    return [({"seq": str(i), "src": "avsc"}, f"event-{i}") for i in range(n)]


@needs_avsc
@pytest.mark.parametrize("doc", [False, True], ids=["hash-equal", "doc-bearing"])
def test_avsc_sink_batches_are_answered_ok_and_arrive_in_order_with_headers(push, doc):
    lines = avro_sink(push.port["plain"], 4, 25, *(["--doc"] if doc else []))
    assert [l["status"] for l in lines if "status" in l] == ["OK"] * 5
    assert received(push, "plain") == expected_events(101)


@needs_avsc
def test_avsc_sink_with_deflate_delivers_binary_bodies(push):
    lines = avro_sink(push.port["deflate"], 3, 10, "--deflate", "--binary", "--doc")
    assert [l["status"] for l in lines if "status" in l] == ["OK"] * 4
    got = received(push, "deflate")
    assert [b for _, b in got] == [struct.pack(">I", i) + b"\xff" for i in range(31)]


def test_frame_split_into_single_bytes_gets_the_serial_echoed_and_ok(push):
    c = RawClient(push.port["plain"])
    try:
        wire = pack(41, first_request(call("append", b"")), b"", event({"k": "v"}, b"one"))
        for i in range(len(wire)):
            c.send(wire[i:i + 1])
        reply = pack(41, HS_BOTH + OK)
        assert c.recv_exactly(len(reply)) == reply
        c.send(pack(42, call("appendBatch", b"\x04" + event({}, b"two") + event({}, b"three") + b"\x00")))
        assert c.recv_exactly(len(pack(42, OK))) == pack(42, OK)     # established: no handshake now
    finally:
        c.close()
    assert received(push, "plain") == [({"k": "v"}, "one"), ({}, "two"), ({}, "three")]


BAD_INPUT = {
    "garbage": (lambda: b"GET / HTTP/1.1\r\nHost: fluvial\r\n\r\n", "a frame announces"),
    "absurd buffer count": (lambda: struct.pack(">ii", 1, 1 << 30), "announces 1073741824 buffers"),
    "absurd buffer length": (lambda: struct.pack(">iii", 1, 1, 1 << 30), "maxFrameBytes=4096"),
    "not a handshake": (lambda: pack(1, b"\xff" * 40), "not an Avro handshake"),
    "unknown message": (lambda: pack(1, first_request(call("drop", b""))), "unknown message 'drop'"),
    "bad parameters": (lambda: pack(1, first_request(call("append", b"\x05"))), "parameters of 'append'"),
    "more events than bytes": (lambda: pack(1, first_request(call("appendBatch", zz(50) + b"\x00\x00\x00"))),
                               "an array block of 50 events at byte 1 does not fit"),
    "closed mid-frame": (lambda: pack(1, first_request(call("append", event({}, b"lost"))))[:-3],
                         "closed in the middle of a frame"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_drops_only_that_connection_and_names_the_peer(push, case):
    make, fragment = BAD_INPUT[case]
    good = RawClient(push.port["plain"])
    bad = RawClient(push.port["plain"])
    try:
        good.send(pack(1, first_request(call("append", event({}, b"before")))))
        assert good.recv_exactly(len(pack(1, HS_BOTH + OK))) == pack(1, HS_BOTH + OK)
        bad.send(make())
        if case == "closed mid-frame":
            bad.sock.shutdown(socket.SHUT_WR)
        if case == "unknown message":     # answered with an Avro system error first
            head = bad.recv_exactly(8 + 4 + len(HS_BOTH) + 3)
            assert head[12:12 + len(HS_BOTH) + 3] == HS_BOTH + b"\x00\x01\x00"
        assert bad.closed_by_server()
        message = push.errors.wait_for(fragment)
        assert f"connection from {bad.peer}" in message
        good.send(pack(2, call("append", event({}, b"after"))))
        assert good.recv_exactly(len(pack(2, OK))) == pack(2, OK)
    finally:
        good.close()
        bad.close()
    assert received(push, "plain") == [({}, "before"), ({}, "after")]


def test_client_outside_the_allow_list_is_disconnected_and_reported(push):
    c = RawClient(push.port["guarded"])
    try:
        c.send(pack(1, first_request(call("append", event({}, b"nope")))))
        assert c.closed_by_server()
    finally:
        c.close()
    assert "not in allowedClients" in push.errors.wait_for(f"connection from {c.peer} refused")
    assert received(push, "guarded") == []


def test_connections_beyond_max_connections_are_refused_and_reported(push):
    first = RawClient(push.port["single"])
    try:
        first.send(pack(1, first_request(call("append", event({}, b"served")))))
        assert first.recv_exactly(len(pack(1, HS_BOTH + OK))) == pack(1, HS_BOTH + OK)
        second = RawClient(push.port["single"])
        try:
            assert second.closed_by_server()
        finally:
            second.close()
        assert "maxConnections=1" in push.errors.wait_for(f"connection from {second.peer} refused")
        first.send(pack(2, call("append", event({}, b"still served"))))
        assert first.recv_exactly(len(pack(2, OK))) == pack(2, OK)
    finally:
        first.close()
    assert received(push, "single") == [({}, "served"), ({}, "still served")]


def test_thrift_stream_is_created_through_flume_utils(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createThriftStream(ssc, "127.0.0.1", 0, protocol="binary", bodyDecoder=bytes)
    assert type(stream.getReceiver()).__name__ == "ThriftReceiver"
    with pytest.raises(TypeError, match="unknown option.*maxFrameSize"):
        FlumeUtils.createThriftStream(ssc, "127.0.0.1", 0, maxFrameSize=10)


def test_server_binds_only_to_the_given_address(push):
    port = push.port["plain"]
    others = [a for a in {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
              if not a.startswith("127.")]
    for addr in others:
        with pytest.raises(OSError):
            socket.create_connection((addr, port), timeout=2).close()
    sock = push.plain.getReceiver()._listener
    assert sock.getsockname()[0] == "127.0.0.1"


def test_many_concurrent_connections_are_served_independently(push):
    def send(k: int) -> None:
        c = RawClient(push.port["plain"])
        try:
            c.send(pack(k, first_request(call("appendBatch", b"\x02" + event({"c": str(k)}, b"x") + b"\x00"))))
            assert c.recv_exactly(len(pack(k, HS_BOTH + OK))) == pack(k, HS_BOTH + OK)
        finally:
            c.close()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(h["c"] for h, _ in received(push, "plain")) == [str(k) for k in range(8)]


MIXED = [({"id": "a"}, b"fine"), ({"id": "bad", "host": "web1"}, b"\xff\xfe not utf-8"), ({"id": "c"}, b"also")]


def test_undecodable_body_fails_the_batch_naming_its_headers_and_position(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0)
    sink = ListSink(stream)
    ssc.start()
    try:
        assert send_batch(bound_port(stream), MIXED) == HS_BOTH + OK
        ssc.clock.advance(1)
        with pytest.raises(BatchFailedError) as info:
            ssc.awaitTermination(10)
        cause = info.value.__cause__
        assert isinstance(cause, FlumeDecodeError)
        assert (cause.headers, cause.block, cause.index) == ({"id": "bad", "host": "web1"}, 0, 1)
        assert "event 1 of block 0 in batch" in str(cause) and "UnicodeDecodeError" in str(cause)
        assert "'host': 'web1'" in str(cause) and "onDecodeError='skip'" in str(cause)
        assert sink.batches == []
    finally:
        ssc.stop(stopSparkContext=False)


def test_skip_leaves_undecodable_bodies_out_and_counts_them(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, onDecodeError="skip")
    sink = ListSink(stream)
    ssc.start()
    try:
        assert send_batch(bound_port(stream), MIXED) == HS_BOTH + OK
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [[({"id": "a"}, "fine"), ({"id": "c"}, "also")]]
    assert stream.skippedEvents.value == 1


def test_settings_are_checked_when_the_stream_is_created(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    with pytest.raises(ValueError, match="onDecodeError must be 'fail' or 'skip', got 'ignore'"):
        FlumeUtils.createStream(ssc, "127.0.0.1", 0, onDecodeError="ignore")
    with pytest.raises(ValueError, match="allowedClients entry 'web-1' is not an IP address"):
        FlumeUtils.createStream(ssc, "127.0.0.1", 0, allowedClients=["web-1"])
    with pytest.raises(ValueError, match="maxFrameBytes must be at least 16, got 0"):
        FlumeUtils.createStream(ssc, "127.0.0.1", 0, maxFrameBytes=0)
    with pytest.raises(ValueError, match="port must be an int in 0..65535, got 70000"):
        FlumeUtils.createStream(ssc, "127.0.0.1", 70000)


def test_address_in_use_is_reported_naming_it(sc):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    ListSink(FlumeUtils.createStream(ssc, "127.0.0.1", port))
    ssc.start()
    try:
        assert f"cannot listen on 127.0.0.1:{port}" in errors.wait_for("Error starting receiver")
    finally:
        ssc.stop(stopSparkContext=False)
        taken.close()


NOT_AVRO = zz(2) + event({"id": "a"}, b"fine") + b"\x02\x06\xff\xfe\xfd\x02v\x00\x00" + b"\x00"  # 2nd: key not UTF-8


@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_events_that_are_not_avro_are_stored_then_reported_by_the_batch_naming_the_peer(sc, mode):
    """The receiver checks only an appendBatch's array framing (and answers OK
    once stored); the task decoding it finds the damage and names the peer."""
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, onDecodeError=mode)
    sink = ListSink(stream)
    ssc.start()
    try:
        c = RawClient(bound_port(stream))
        try:
            c.send(pack(1, first_request(call("appendBatch", NOT_AVRO))))
            assert c.recv_exactly(len(pack(1, HS_BOTH + OK))) == pack(1, HS_BOTH + OK)
        finally:
            c.close()
        ssc.clock.advance(1)
        if mode == "fail":
            with pytest.raises(BatchFailedError) as info:
                ssc.awaitTermination(10)
            cause = info.value.__cause__
            assert isinstance(cause, FlumeDecodeError) and (cause.block, cause.index) == (0, 1)
            assert f"the events {c.peer} sent in one appendBatch (2 counted; events 0 to 1 of block 0" in str(cause)
            assert "not valid Avro from event 1 on" in str(cause) and "is not UTF-8" in str(cause)
            assert sink.batches == []
    finally:
        ssc.stop(stopSparkContext=False)
    if mode == "skip":
        assert sink.batches == [[({"id": "a"}, "fine")]] and stream.skippedEvents.value == 1


def test_a_batch_counts_events_and_groups_its_calls_into_block_interval_partitions(sc):
    """Each appendBatch is one block standing for its events: numRecords counts
    events; a 1 s batch of 12 calls has 5 partitions (1 s / 200 ms), in order."""
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    counted: list[int] = []

    class Counts(StreamingListener):
        def onBatchCompleted(self, e):
            counted.append(e.batchInfo().numRecords())
    ssc.addStreamingListener(Counts())
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0)
    parts: list[list] = []
    stream.foreachRDD(lambda rdd: parts.append(rdd.glom().collect()))
    ssc.start()
    try:
        c = RawClient(bound_port(stream))
        try:
            for k in range(12):
                batch = zz(3) + b"".join(event({"k": str(k)}, f"{k}-{i}".encode()) for i in range(3)) + b"\x00"
                c.send(pack(k, (first_request if k == 0 else bytes)(call("appendBatch", batch))))
                c.recv_exactly(len(pack(k, HS_BOTH + OK) if k == 0 else pack(k, OK)))
        finally:
            c.close()
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert counted == [36]
    assert len(parts) == 1 and len(parts[0]) == 5
    assert [v for p in parts[0] for _, v in p] == [f"{k}-{i}" for k in range(12) for i in range(3)]
