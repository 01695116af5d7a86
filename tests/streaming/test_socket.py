"""socketTextStream against a real TCP server on 127.0.0.1, on both executors:
line splitting like BufferedReader.readLine, reconnection when the server
closes, undecodable lines reported and dropped without losing the connection."""
from __future__ import annotations

import re
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.sources.socket import LineSplitter
from fluvial.testing import ListSink, ManualClock

from support import EXECUTORS, make_context


@pytest.fixture(scope="module", params=EXECUTORS)
def ssc_sc(request: pytest.FixtureRequest):
    context = make_context(request.param, **{"spark.streaming.receiverRestartDelay": "10ms"})
    yield context
    context.stop()


class Server:
    """A listening socket on 127.0.0.1; the test accepts and scripts each connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout: float = 10.0) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        return conn

    def close(self) -> None:
        self.sock.close()


class ReceiverEvents(StreamingListener):
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def onReceiverError(self, e):
        self.log.append(("error", e.receiverInfo().lastErrorMessage()))

    def onReceiverStopped(self, e):
        self.log.append(("stopped", e.receiverInfo().lastErrorMessage()))


def wait_stored(ssc: StreamingContext, stream, n: int, timeout: float = 10.0) -> None:
    blocks = ssc._receiver_tracker.supervisors[stream.id].blocks
    deadline = time.monotonic() + timeout
    while blocks.pending_records() < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {blocks.pending_records()} of {n} lines arrived")
        time.sleep(0.002)


def test_lines_end_like_readline_and_a_closed_connection_is_reopened(ssc_sc):
    server = Server()
    clock = ManualClock()
    ssc = StreamingContext(ssc_sc, 1, clock=clock)
    lines = ssc.socketTextStream("127.0.0.1", server.port)
    sink = ListSink(lines)
    events = ReceiverEvents()
    ssc.addStreamingListener(events)
    ssc.start()
    try:
        conn = server.accept()
        for part in [b"al", b"pha\r", b"\nbeta\n", b"gam", b"ma\rdelta\n", "\u00fcn\u00efc".encode()[:3],
                     "\u00fcn\u00efc".encode()[3:] + b"ode\n\n", b"omega"]:
            conn.sendall(part)
        conn.close()                                 # the last, unterminated line is kept
        wait_stored(ssc, lines, 7)
        clock.advance(1)
        conn2 = server.accept()                      # the receiver reconnected
        conn2.sendall(b"again\n")
        wait_stored(ssc, lines, 1)
        clock.advance(1)
        conn2.close()
    finally:
        ssc.stop(stopSparkContext=False)
        server.close()
    assert sink.batches == [["alpha", "beta", "gamma", "delta", "\u00fcn\u00efcode", "", "omega"], ["again"]]
    assert any(kind == "stopped" and "Socket data stream had no more data" in msg for kind, msg in events.log)


def test_undecodable_line_is_reported_and_dropped_and_the_connection_kept(ssc_sc):
    server = Server()
    clock = ManualClock()
    ssc = StreamingContext(ssc_sc, 1, clock=clock)
    lines = ssc.socketTextStream("127.0.0.1", server.port)
    sink = ListSink(lines)
    events = ReceiverEvents()
    ssc.addStreamingListener(events)
    ssc.start()
    conn = None
    try:
        conn = server.accept()
        conn.sendall(b"good\nbad\xff\xfe\nafter\n")
        wait_stored(ssc, lines, 2)
        clock.advance(1)
        conn.sendall(b"same connection\n")
        wait_stored(ssc, lines, 1)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
        if conn is not None:
            conn.close()
        server.close()
    assert sink.batches == [["good", "after"], ["same connection"]]
    errors = [msg for kind, msg in events.log if kind == "error"]
    assert len(errors) == 1
    assert f"127.0.0.1:{server.port}" in errors[0] and "byte offset 8" in errors[0] and "line 2" in errors[0]
    assert not any("Restarting" in msg for _, msg in events.log)


# ---------------------------------------------------------------- line splitting
def reference_lines(data: bytes) -> list[tuple[bytes, int]]:
    out, pos = [], 0
    for m in re.finditer(rb"\r\n|\r|\n", data):
        out.append((data[pos:m.start()], pos))
        pos = m.end()
    if pos < len(data):
        out.append((data[pos:], pos))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"\xc3\xbc", b""]), max_size=30),
       st.lists(st.integers(0, 40), max_size=6))
def test_any_chunking_gives_the_lines_and_offsets_of_the_whole_stream(pieces, cuts):
    data = b"".join(pieces)
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    splitter = LineSplitter()
    got: list[tuple[bytes, int]] = []
    for a, b in zip(bounds, bounds[1:]):
        got.extend(splitter.feed(data[a:b]))
    tail = splitter.finish()
    if tail is not None:
        got.append(tail)
    assert got == reference_lines(data)
