"""The Thrift receiver against real clients on 127.0.0.1, driven by a ManualClock:
Apache ``thrift`` 0.25 (flumehandler's generated stubs over TSocket +
TFramedTransport, compact and binary, pure and accelerated), a ``thriftpy2``
client loading the tests' own IDL, flumehandler's ``FlumeAgent``, and Apache
libthrift 0.16 in Java (thrift_peers/ThriftSinkClient.java: TSocket +
TFastFramedTransport as Flume's ThriftRpcClient, compact and binary); every kind
of bad input costs only its own connection; OK only once stored (and logged
with the write-ahead log); FAILED while another request waits for the rate
limit or block-queue space and when the stream stops; undecodable bodies fail
their batch or are skipped and counted."""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import cloudpickle
import pytest
import thriftpy2
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocol, TCompactProtocolAccelerated
from thrift.Thrift import TApplicationException
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.rpc import make_client
from thriftpy2.transport import TFramedTransportFactory

from flumehandler import FlumeAgent
from flumehandler.thrift_protocol import Client
from flumehandler.thrift_ttypes import ThriftFlumeEvent
from fluvial.streaming import BatchFailedError, StreamingContext, StreamingListener
from fluvial.streaming.flume import FlumeDecodeError, FlumeUtils
from fluvial.streaming.flume.thrift import Status, create_thrift_stream
from fluvial.streaming.sources.blocklog import BlockLog
from fluvial.streaming.sources.receiver import WAL_ENABLE_KEY
from fluvial.testing import ListSink, ManualClock

from support import make_context, wait_until

PEER_IDL = os.path.join(os.path.dirname(__file__), "thrift_peers", "flume.thrift")
peer = thriftpy2.load(PEER_IDL, module_name="peer_flume_thrift")


@pytest.fixture(scope="module")
def sc():
    context = make_context("inprocess", **{
        "spark.streaming.receiverRestartDelay": "10ms",
        "spark.streaming.blockInterval": "1h",          # blocks are cut by storeAll (one per request) and batches
        "spark.streaming.receiver.writeAheadLog.rollingIntervalSecs": "1",
    })
    yield context
    context.stop()


class Errors(StreamingListener):
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.stopped: list[str] = []

    def onReceiverError(self, e):
        self.errors.append(e.receiverInfo().lastErrorMessage())

    def onReceiverStopped(self, e):
        self.stopped.append(e.receiverInfo().lastErrorMessage())


class Running:
    """A started context with one Thrift stream on 127.0.0.1 (ephemeral port)."""

    def __init__(self, sc, protocol: str = "compact", checkpoint: str | None = None, receiver=None,
                 first_output=None, **options) -> None:
        self.clock = ManualClock()
        self.ssc = StreamingContext(sc, 1, clock=self.clock)
        if checkpoint is not None:
            self.ssc.checkpoint(checkpoint)
        if receiver is not None:
            self.stream = self.ssc.receiverStream(receiver)
        else:
            self.stream = create_thrift_stream(self.ssc, "127.0.0.1", 0, protocol, **options)
        self.rx = self.stream.getReceiver()
        if first_output is not None:
            self.stream.foreachRDD(first_output)
        self.sink = ListSink(self.stream)
        self.events = Errors()
        self.ssc.addStreamingListener(self.events)
        self.ssc.start()
        wait_until(lambda: self.rx.boundPort is not None, "the receiver to listen")
        self.port = self.rx.boundPort

    def stored(self) -> int:
        return self.ssc._receiver_tracker.supervisors[self.stream.id].blocks.pending_records()

    def wait_stored(self, n: int) -> None:
        wait_until(lambda: self.stored() >= n, f"{n} stored events")

    def batch(self) -> list:
        self.clock.advance(1)
        return self.sink.batches[-1]

    def stop(self) -> None:
        self.ssc.stop(stopSparkContext=False)


@contextlib.contextmanager
def running(sc, protocol: str = "compact", **options):
    r = Running(sc, protocol, **options)
    try:
        yield r
    finally:
        r.stop()


@contextlib.contextmanager
def apache_client(port: int, protocol_cls):
    """Apache thrift 0.25: flumehandler's generated Client over TSocket + TFramedTransport."""
    transport = TFramedTransport(TSocket("127.0.0.1", port))
    transport.open()
    try:
        yield Client(protocol_cls(transport))
    finally:
        transport.close()


def flume_events(n: int, tag: str = "e") -> list[ThriftFlumeEvent]:
    return [ThriftFlumeEvent(headers={"seq": str(i), "tag": tag}, body=f"{tag}-{i}".encode()) for i in range(n)]


def expected(n: int, tag: str = "e") -> list:
    return [({"seq": str(i), "tag": tag}, f"{tag}-{i}") for i in range(n)]


# ---------------------------------------------------------------- real clients
@pytest.mark.parametrize("protocol, protocol_cls", [
    ("compact", TCompactProtocol), ("compact", TCompactProtocolAccelerated),
    ("binary", TBinaryProtocol), ("binary", TBinaryProtocolAccelerated)])
def test_apache_thrift_clients_get_ok_for_append_and_append_batch_in_order(sc, protocol, protocol_cls):
    with running(sc, protocol, allowedClients=["127.0.0.1"]) as r:
        with apache_client(r.port, protocol_cls) as client:
            assert client.appendBatch(flume_events(3)) == Status.OK
            assert r.stored() == 3                          # OK came after the events were stored
            assert client.append(ThriftFlumeEvent(headers={}, body="d\u00e9j\u00e0".encode())) == Status.OK
            assert client.appendBatch([]) == Status.OK
            assert r.batch() == expected(3) + [({}, "d\u00e9j\u00e0")]
            assert client.appendBatch(flume_events(2, "next")) == Status.OK
            assert r.batch() == expected(2, "next")
        assert r.events.errors == []


@pytest.mark.parametrize("protocol, factory", [("compact", TCompactProtocolFactory()),
                                               ("binary", TBinaryProtocolFactory())])
def test_a_thriftpy2_client_gets_ok_and_its_events_arrive(sc, protocol, factory):
    with running(sc, protocol) as r:
        client = make_client(peer.ThriftSourceProtocol, "127.0.0.1", r.port, proto_factory=factory,
                             trans_factory=TFramedTransportFactory(), timeout=10_000)
        try:
            batch = [peer.ThriftFlumeEvent(headers={"h": "1"}, body=b"x" * 1000), peer.ThriftFlumeEvent({}, b"")]
            assert client.appendBatch(batch) == peer.Status.OK
            assert client.append(peer.ThriftFlumeEvent({"k": "v"}, b"last")) == peer.Status.OK
        finally:
            client.close()
        assert r.batch() == [({"h": "1"}, "x" * 1000), ({}, ""), ({"k": "v"}, "last")]


def test_flumehandler_agent_delivers_every_event_from_its_sender_thread(sc):
    with running(sc, "compact") as r:
        # one sender thread: flumehandler shares one connection between its sender threads without a lock,
        # so with several their frames and replies interleave on the client side
        agent = FlumeAgent(["127.0.0.1"], r.port, batch_size=7, thread_size=1)
        agent.start()
        try:
            for ev in flume_events(50):
                agent.put(ev)
            agent.flush()                                   # the last, partial batch of 1
            r.wait_stored(50)
        finally:
            agent.running = False                           # its threads notice within their poll interval
        got = r.batch()
    assert sorted(got, key=lambda e: int(e[0]["seq"])) == expected(50)
    assert r.events.errors == []


def libthrift_classpath() -> str | None:
    """Apache libthrift and slf4j-api jars: ``FLUVIAL_THRIFT_JARS``, Debian's libthrift-java and
    libslf4j-java, libthrift 0.9.3 (Flume 1.9's) fetched with the Avro peers' jars, or pyspark's jars in
    ``bench/.venv-pyspark`` (``make bench``)."""
    if os.environ.get("FLUVIAL_THRIFT_JARS"):
        return os.environ["FLUVIAL_THRIFT_JARS"]
    repo = Path(__file__).resolve().parents[2]
    for d in [Path("/usr/share/java"), Path(__file__).parent / ".java-cache" / "jars",
              *repo.glob("bench/.venv-pyspark/lib/python3*/site-packages/pyspark/jars")]:
        thrift = sorted(d.glob("libthrift*.jar"))
        slf4j = sorted(d.glob("slf4j-api*.jar"))
        if thrift and slf4j:
            return os.pathsep.join([str(thrift[-1]), str(slf4j[-1])])
    return None


@pytest.fixture(scope="module")
def java_client(tmp_path_factory):
    """The compiled ThriftSinkClient harness and its classpath."""
    jars = libthrift_classpath()
    if shutil.which("javac") is None or jars is None:
        pytest.skip("Java libthrift client: needs javac and libthrift/slf4j-api jars (Debian libthrift-java + "
                    "libslf4j-java, `make bench`'s pyspark jars, or FLUVIAL_THRIFT_JARS)")
    out = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-cp", jars, "-d", str(out), str(Path(PEER_IDL).parent / "ThriftSinkClient.java")],
                   check=True, capture_output=True, timeout=120)
    return os.pathsep.join([str(out), jars])


@pytest.mark.parametrize("protocol", ["compact", "binary"])
def test_a_java_libthrift_client_on_fast_framed_transport_gets_ok(sc, java_client, protocol):
    with running(sc, protocol) as r:
        run = subprocess.run(["java", "-cp", java_client, "ThriftSinkClient", "127.0.0.1", str(r.port), protocol,
                              "25", "10"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split("\n")[:-1] == ["append 1 0", "appendBatch 2 0", "appendBatch 3 0", "appendBatch 4 0"]
        assert r.batch() == [({"n": str(i), "src": "java"}, f"jthrift-{i}") for i in range(25)]
        assert r.events.errors == []


def test_many_concurrent_connections_are_served_and_each_batch_stays_one_block(sc):
    with running(sc, "binary") as r:
        def send(k: int) -> list:
            with apache_client(r.port, TBinaryProtocol) as client:
                return [client.appendBatch(flume_events(5, f"c{k}-{j}")) for j in range(4)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(8)))
        assert statuses == [[Status.OK] * 4] * 8
        r.clock.advance(1)
    blocks = [r.sink.batches[-1][i:i + 5] for i in range(0, 160, 5)]
    tag = lambda block: block[0][0]["tag"]  # noqa: E731
    assert sorted(blocks, key=tag) == sorted((expected(5, f"c{k}-{j}") for k in range(8) for j in range(4)), key=tag)


# ---------------------------------------------------------------- bad input
def raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def compact_batch_frame(tag: str) -> bytes:
    body = tag.encode()
    payload = (b"\x82\x21\x00\x0bappendBatch\x19\x1c" + b"\x1b\x00\x18" + bytes([len(body)]) + body + b"\x00\x00")
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("name, data, reason", [
    ("absurd length", struct.pack(">I", 0x7FFFFFFF) + b"x", "frame length 2147483647"),
    ("negative length (unframed client)", b"\x82\x21\x00\x0bappendBatch", "unframed client"),
    ("zero length", b"\x00\x00\x00\x00", "frame length 0"),
    ("over maxFrameBytes", struct.pack(">I", 4097) + b"x" * 4097, "maxFrameBytes=4096"),
    ("garbage in a frame", struct.pack(">I", 9) + b"\x00\x01garbage", "not a compact Thrift message"),
    ("closed mid-frame", struct.pack(">I", 100) + b"\x82\x21\x00", "3 of the 100 bytes"),
    ("closed mid-length", b"\x00\x00", "2 of the 4 bytes of the frame length"),
])
def test_bad_input_drops_only_that_connection_with_an_error_naming_the_peer(sc, name, data, reason):
    with running(sc, "compact", maxFrameBytes=4096) as r:
        with apache_client(r.port, TCompactProtocol) as good:
            assert good.appendBatch(flume_events(1, "before")) == Status.OK
            bad = raw(r.port)
            peer_addr = "127.0.0.1:%d" % bad.getsockname()[1]
            bad.sendall(data)
            if "closed" in name:
                bad.shutdown(socket.SHUT_WR)
            assert closed_by_server(bad)
            bad.close()
            wait_until(lambda: r.events.errors, "the error report")
            assert good.appendBatch(flume_events(1, "after")) == Status.OK    # the other connection lives on
        with apache_client(r.port, TCompactProtocol) as fresh:                # and new ones are accepted
            assert fresh.appendBatch(flume_events(1, "fresh")) == Status.OK
        assert r.batch() == expected(1, "before") + expected(1, "after") + expected(1, "fresh")
    [error] = r.events.errors
    assert peer_addr in error and reason in error and "connection dropped" in error, error


def test_pipelined_frames_and_a_frame_split_into_single_bytes_are_each_answered_in_order(sc):
    ok = bytes.fromhex("00000013" "8241000b") + b"appendBatch" + bytes.fromhex("05000000")   # compact REPLY, OK
    with running(sc, "compact") as r:
        s = raw(r.port)
        try:
            s.sendall(compact_batch_frame("one") + compact_batch_frame("two"))      # two calls in one segment
            for byte in compact_batch_frame("three"):                               # one call, byte by byte
                s.sendall(bytes([byte]))
            got = b""
            while len(got) < 3 * len(ok):
                chunk = s.recv(4096)
                assert chunk, f"connection closed after {got!r}"
                got += chunk
        finally:
            s.close()
        assert got == ok * 3
        assert r.batch() == [({}, "one"), ({}, "two"), ({}, "three")]


def test_an_unknown_method_gets_an_application_exception_and_the_connection_is_dropped(sc):
    with running(sc, "binary") as r:
        client = make_client(peer.ThriftSourceProtocol, "127.0.0.1", r.port, proto_factory=TBinaryProtocolFactory(),
                             trans_factory=TFramedTransportFactory(), timeout=10_000)
        try:
            proto = client._oprot
            proto.write_message_begin("initialize", 1, 7)   # a method ThriftSourceProtocol does not have
            proto.write_struct(peer.ThriftSourceProtocol.append_args(event=peer.ThriftFlumeEvent({}, b"x")))
            proto.write_message_end()
            proto.trans.flush()
            name, mtype, seqid = client._iprot.read_message_begin()
            exc = thriftpy2.thrift.TApplicationException()
            client._iprot.read_struct(exc)
            assert (name, mtype, seqid) == ("initialize", 3, 7)
            assert exc.type == TApplicationException.UNKNOWN_METHOD and "initialize" in exc.message
        finally:
            client.close()
        wait_until(lambda: r.events.errors, "the error report")
    assert "unknown method 'initialize'" in r.events.errors[0] and "connection dropped" in r.events.errors[0]


def test_clients_outside_allowed_clients_and_beyond_max_connections_are_refused(sc):
    with running(sc, "compact", allowedClients=["10.0.0.0/8"]) as r:
        s = raw(r.port)
        assert closed_by_server(s)
        s.close()
        wait_until(lambda: r.events.errors, "the refusal report")
        assert "not in allowedClients" in r.events.errors[0] and "127.0.0.1:" in r.events.errors[0]
        assert r.stored() == 0
    with running(sc, "compact", maxConnections=1) as r:
        with apache_client(r.port, TCompactProtocol) as first:
            assert first.appendBatch(flume_events(1)) == Status.OK
            s = raw(r.port)
            assert closed_by_server(s)
            s.close()
            wait_until(lambda: r.events.errors, "the refusal report")
            assert "maxConnections=1" in r.events.errors[0]
            assert first.appendBatch(flume_events(1, "again")) == Status.OK


def test_the_server_binds_only_to_the_given_address(sc):
    with running(sc, "compact") as r:
        assert r.rx._server.listener.getsockname() == ("127.0.0.1", r.port)
        with pytest.raises(ConnectionRefusedError):        # another loopback address is not listened on
            socket.create_connection(("127.0.0.2", r.port), timeout=5).close()


# ---------------------------------------------------------------- undecodable bodies
def test_an_undecodable_body_fails_its_batch_naming_its_headers_and_position(sc):
    with running(sc, "compact") as r:
        with apache_client(r.port, TCompactProtocol) as client:
            batch = flume_events(2) + [ThriftFlumeEvent(headers={"host": "web-3"}, body=b"caf\xe9")]
            assert client.appendBatch(batch) == Status.OK    # stored as Flume sent it (and logged, with the WAL)
        r.clock.advance(1)
        with pytest.raises(BatchFailedError) as info:
            r.ssc.awaitTermination(10)
    cause = info.value.__cause__
    assert isinstance(cause, FlumeDecodeError)
    assert (cause.headers, cause.block, cause.index) == ({"host": "web-3"}, 0, 2)
    assert "UnicodeDecodeError" in str(cause) and "onDecodeError='skip'" in str(cause)
    assert r.sink.batches == []


def test_undecodable_bodies_are_skipped_and_counted_when_asked(sc):
    with running(sc, "binary", onDecodeError="skip") as r:
        with apache_client(r.port, TBinaryProtocol) as client:
            batch = [ThriftFlumeEvent({"n": "0"}, b"\xff"), ThriftFlumeEvent({"n": "1"}, b"ok"),
                     ThriftFlumeEvent({"n": "2"}, b"\xfe")]
            assert client.appendBatch(batch) == Status.OK
        assert r.batch() == [({"n": "1"}, "ok")]
        assert r.stream.skippedEvents.value == 2
        assert r.rx.isStarted()


def test_a_custom_body_decoder_gets_the_raw_bytes(sc):
    with running(sc, "compact", bodyDecoder=lambda b: b[::-1]) as r:
        with apache_client(r.port, TCompactProtocol) as client:
            assert client.append(ThriftFlumeEvent({}, b"\x00\x01\xff")) == Status.OK
        assert r.batch() == [({}, b"\xff\x01\x00")]


# ---------------------------------------------------------------- reliability
def test_the_rate_limit_fails_at_once_what_it_would_hold_beyond_store_timeout_and_a_stop_fails_the_waiting(sc):
    """The store rule of both Flume push receivers: a request waits up to
    ``storeTimeout`` (here 3 s) for the rate limit, each on its own; one the
    limiter would hold longer is FAILED at once with nothing stored, and one
    still waiting when the stream stops is FAILED."""
    sc._conf.set("spark.streaming.receiver.maxRate", "1")
    try:
        r = Running(sc, "compact", storeTimeout=3)
    finally:
        sc._conf.set("spark.streaming.receiver.maxRate", "0")
    try:
        limiter = r.ssc._receiver_tracker.supervisors[r.stream.id].limiter
        with apache_client(r.port, TCompactProtocol) as first, apache_client(r.port, TCompactProtocol) as waiting, \
                apache_client(r.port, TCompactProtocol) as third:
            assert first.appendBatch(flume_events(2, "first")) == Status.OK   # permits now owed until t=2 s
            assert r.batch() == expected(2, "first")                          # t=1 s: 1 s more to wait
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pending = pool.submit(waiting.appendBatch, flume_events(3, "waits"))   # owes until t=5 s
                wait_until(lambda: limiter.waiting == 1, "the second request to wait for the rate limit")
                assert third.appendBatch(flume_events(1, "third")) == Status.FAILED   # would wait 4 s > 3 s
                wait_until(lambda: any("not stored within storeTimeout=3 s" in e for e in r.events.errors),
                           "the FAILED answer to be reported")
                assert r.stored() == 0
                r.stop()                                        # the waiting request is not stored
                assert pending.result(10) == Status.FAILED
    finally:
        r.stop()
    assert [rec for batch in r.sink.batches for rec in batch] == expected(2, "first")


def test_a_request_waits_for_block_queue_space_up_to_store_timeout(sc):
    gate = threading.Event()
    sc._conf.set("spark.streaming.blockQueueSize", "1")
    try:
        r = Running(sc, "compact", first_output=lambda rdd: gate.wait(30), storeTimeout=5)  # the job thread stalls
    finally:
        sc._conf.set("spark.streaming.blockQueueSize", "10")
    try:
        blocks = r.ssc._receiver_tracker.supervisors[r.stream.id].blocks
        with apache_client(r.port, TCompactProtocol) as a, apache_client(r.port, TCompactProtocol) as b, \
                apache_client(r.port, TCompactProtocol) as c:
            for t, tag in ((1000, "a"), (2000, "b")):           # batch 1000 is stuck, batch 2000 queued behind
                assert a.appendBatch(flume_events(1, tag)) == Status.OK
                r.clock.set_time(t)
                wait_until(lambda: r.ssc._scheduler.last_generated == t, f"batch {t} to be generated")
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                waits = [pool.submit(client.appendBatch, flume_events(1, tag)) for client, tag in ((b, "b2"), (c, "c"))]
                wait_until(lambda: blocks.waiting_producers == 2, "both requests to wait for queue space")
                gate.set()                                      # batch 1000 completes: room for one block, then more
                assert [w.result(10) for w in waits] == [Status.OK, Status.OK]
            r.clock.advance(1)
    finally:
        gate.set()
        r.stop()
    got = [rec for batch in r.sink.batches for rec in batch]
    assert got[:2] == expected(1, "a") + expected(1, "b")
    assert sorted(h["tag"] for h, _ in got[2:]) == ["b2", "c"]


def test_a_running_receiver_pickles_with_its_configuration_only_and_serves_after_restore(sc):
    with running(sc, "binary", allowedClients="127.0.0.1", maxFrameBytes=1000, maxConnections=3) as r:
        blob = cloudpickle.dumps(r.rx)                      # sockets and threads are left out
    restored = cloudpickle.loads(blob)
    assert restored._server is None and restored.boundPort is None and restored.isStopped()
    assert (restored.protocol, restored.maxFrameBytes, restored.allowedClients, restored.maxConnections) == (
        "binary", 1000, ["127.0.0.1"], 3)
    with running(sc, receiver=restored) as r2:
        with apache_client(r2.port, TBinaryProtocol) as client:
            assert client.append(ThriftFlumeEvent({"k": "v"}, b"\x01\x02")) == Status.OK
        assert r2.batch() == [({"k": "v"}, b"\x01\x02")]    # a plain receiverStream: the raw stored bodies


def test_with_the_write_ahead_log_ok_comes_after_the_events_are_in_the_log(sc, tmp_path):
    sc._conf.set(WAL_ENABLE_KEY, "true")
    try:
        with running(sc, "binary", checkpoint=str(tmp_path)) as r:
            with apache_client(r.port, TBinaryProtocol) as client:
                assert client.appendBatch(flume_events(3)) == Status.OK
                logged, _ = BlockLog(r.stream.log_directory, 1000, r.stream._run_id).scan()   # read from disk
                raw = [(h, b.encode()) for h, b in expected(3)]       # the log holds the bytes Flume sent
                assert [records for _, records in logged] == [raw]
                assert client.append(ThriftFlumeEvent({"k": "v"}, b"one")) == Status.OK
                logged, _ = BlockLog(r.stream.log_directory, 1000, r.stream._run_id).scan()
                assert [records for _, records in logged] == [raw, [({"k": "v"}, b"one")]]
            assert r.batch() == expected(3) + [({"k": "v"}, "one")]
    finally:
        sc._conf.set(WAL_ENABLE_KEY, "false")


def test_a_receiver_that_cannot_bind_reports_the_address_and_retries(sc):
    blocker = socket.create_server(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    stream = create_thrift_stream(ssc, "127.0.0.1", port)
    ListSink(stream)
    events = Errors()
    ssc.addStreamingListener(events)
    ssc.start()
    try:
        wait_until(lambda: events.errors, "the bind error")
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in events.errors[0]
        blocker.close()                                     # the restart binds once the port is free
        wait_until(lambda: stream.getReceiver().boundPort == port, "the restarted receiver to bind")
        with apache_client(port, TCompactProtocol) as client:
            assert client.appendBatch(flume_events(1)) == Status.OK
    finally:
        ssc.stop(stopSparkContext=False)
        blocker.close()


def test_flume_utils_create_thrift_stream_passes_protocol_decoder_and_options(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = FlumeUtils.createThriftStream(ssc, "127.0.0.1", 0, "binary", bodyDecoder=len, maxConnections=2)
    sink = ListSink(stream)
    ssc.start()
    try:
        rx = stream.getReceiver()
        assert (rx.protocol, rx.maxConnections) == ("binary", 2)
        with apache_client(rx.boundPort, TBinaryProtocol) as client:
            assert client.appendBatch(flume_events(2)) == Status.OK
        ssc.clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [[({"seq": "0", "tag": "e"}, 3), ({"seq": "1", "tag": "e"}, 3)]]


def test_options_are_checked_naming_the_option(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    with pytest.raises(ValueError, match="protocol must be 'compact' or 'binary', got 'json'"):
        create_thrift_stream(ssc, "127.0.0.1", 1, "json")
    with pytest.raises(ValueError, match="maxFrameBytes must be a positive integer, got 0"):
        create_thrift_stream(ssc, "127.0.0.1", 1, maxFrameBytes=0)
    with pytest.raises(ValueError, match="allowedClients entry 'nowhere'"):
        create_thrift_stream(ssc, "127.0.0.1", 1, allowedClients=["nowhere"])
    with pytest.raises(ValueError, match="onDecodeError must be 'fail' or 'skip'"):
        create_thrift_stream(ssc, "127.0.0.1", 1, onDecodeError="ignore")
    with pytest.raises(TypeError, match="unknown option.*maxFrameSize"):
        create_thrift_stream(ssc, "127.0.0.1", 1, maxFrameSize=10)
    with pytest.raises(ValueError, match="port must be an integer in 0..65535"):
        create_thrift_stream(ssc, "127.0.0.1", 70000)
    with pytest.raises(ValueError, match="storeTimeout must be a positive number of seconds, got 0"):
        create_thrift_stream(ssc, "127.0.0.1", 1, storeTimeout=0)
