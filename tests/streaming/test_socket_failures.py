"""socketTextStream failure paths with real sockets: an unreachable server is
reported (naming host:port) and retried until it comes up; stopping closes
the connection and its thread; bad addresses are rejected up front."""
from __future__ import annotations

import logging
import socket
import threading

import pytest

from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.testing import ListSink, ManualClock

from support import free_port, make_context, wait_until


@pytest.fixture
def sc():
    context = make_context("inprocess", **{"spark.streaming.receiverRestartDelay": "10ms"})
    yield context
    context.stop()


class Errors(StreamingListener):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def onReceiverError(self, e):
        self.messages.append(e.receiverInfo().lastErrorMessage())



def socket_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fluvial-socket-receiver")]


def test_unreachable_server_is_reported_and_retried_until_it_listens(sc, caplog):
    port = free_port()
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    lines = ssc.socketTextStream("127.0.0.1", port)
    sink = ListSink(lines)
    errors = Errors()
    ssc.addStreamingListener(errors)
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        ssc.start()
        try:
            wait_until(lambda: len(errors.messages) >= 3, "three failed connection attempts")
            server = socket.create_server(("127.0.0.1", port))
            server.settimeout(10)
            conn, _ = server.accept()
            conn.sendall(b"finally\n")
            blocks = ssc._receiver_tracker.supervisors[lines.id].blocks
            wait_until(lambda: blocks.pending_records() == 1, "the line")
            clock.advance(1)
            conn.close()
            server.close()
        finally:
            ssc.stop(stopSparkContext=False)
    assert sink.batches == [["finally"]]
    assert all(f"Error connecting to 127.0.0.1:{port}" in m for m in errors.messages[:3])
    assert any(f"Error connecting to 127.0.0.1:{port}" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


def test_stop_closes_the_connection_and_discards_a_partial_line_with_a_warning(sc, caplog):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    lines = ssc.socketTextStream("127.0.0.1", server.getsockname()[1])
    ListSink(lines)
    ssc.start()
    conn, _ = server.accept()
    conn.sendall(b"complete\nhalf a li")
    blocks = ssc._receiver_tracker.supervisors[lines.id].blocks
    wait_until(lambda: blocks.pending_records() == 1, "the complete line")
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        ssc.stop(stopSparkContext=False)
    conn.settimeout(10)
    assert conn.recv(1) == b""                       # the receiver closed its end
    conn.close()
    server.close()
    assert socket_threads() == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("discarded a partial line of 9 bytes at byte offset 9" in m for m in messages)
    assert any("1 records stored by SocketReceiver were not processed" in m for m in messages)


def test_stop_during_connection_attempts_leaves_no_thread(sc):
    # 10.255.255.1 is not routable: connect() hangs until cancelled (or fails at once without a network)
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    ListSink(ssc.socketTextStream("10.255.255.1", 9))
    ssc.start()
    ssc.stop(stopSparkContext=False)
    assert socket_threads() == []


@pytest.mark.parametrize("host,port,message", [
    ("", 9999, "hostname must be a non-empty string"),
    ("localhost", 0, "port must be an integer in 1..65535"),
    ("localhost", 70000, "port must be an integer in 1..65535"),
    ("localhost", "9999", "port must be an integer"),
])
def test_bad_address_is_rejected_when_the_stream_is_created(sc, host, port, message):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    with pytest.raises(ValueError, match=message):
        ssc.socketTextStream(host, port)
