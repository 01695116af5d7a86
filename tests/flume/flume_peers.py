"""Peers and helpers for the Flume Avro tests: the avsc scripts in
``avsc_peers/`` (installed by ``npm ci --prefix tests/flume``), a raw-socket
client, and a listener collecting receiver errors."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from fluvial.streaming import StreamingListener
from fluvial.streaming.flume.poll import FlumePollingReceiver

from avro_bytes import FLUME_HASH, HS_BOTH, OK, call, event, handshake_request, pack
from support import wait_until

HERE = Path(__file__).parent
PEERS = HERE / "avsc_peers"
NODE = shutil.which("node")

needs_avsc = pytest.mark.skipif(
    NODE is None or not (HERE / "node_modules" / "avsc").is_dir(),
    reason="needs node and avsc (make test runs `npm ci --prefix tests/flume` when npm is present)")


class ReceiverErrors(StreamingListener):
    """Every receiver error message, in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def onReceiverError(self, receiverError) -> None:
        self.messages.append(receiverError.receiverInfo().lastErrorMessage())

    def wait_for(self, fragment: str) -> str:
        wait_until(lambda: any(fragment in m for m in self.messages), f"a receiver error with {fragment!r}",
                   timeout=30)
        return next(m for m in self.messages if fragment in m)


def bound_port(stream) -> int:
    receiver = stream.getReceiver()
    wait_until(lambda: receiver.boundAddress is not None, "the receiver to listen", timeout=30)
    return receiver.boundAddress[1]


def avro_sink(port: int, batches: int, size: int, *flags: str, timeout: float = 30) -> list[dict]:
    """Run the avsc AvroSink-like client to completion; its JSON lines."""
    proc = subprocess.run([NODE, str(PEERS / "avro_sink.js"), "127.0.0.1", str(port), str(batches), str(size),
                           *flags], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"avro_sink.js failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines()]


class SparkSinkPeer:
    """A SparkSink-like server — avsc's (``avsc_peers/spark_sink.js``), or the
    process ``command`` starts — and the operations it logged (``ops``: dicts
    with ``op``, ``seq``, ``ids``)."""

    def __init__(self, events: int, *flags: str, command: list[str] | None = None) -> None:
        argv = command if command is not None else [NODE, str(PEERS / "spark_sink.js"), str(events), *flags]
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = json.loads(self.proc.stdout.readline())["port"]
        self.ops: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.ops.append(json.loads(line))

    def command(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def ids(self, op: str) -> list[int]:
        return [i for o in list(self.ops) if o["op"] == op for i in o["ids"]]

    def count(self, op: str) -> int:
        return sum(1 for o in list(self.ops) if o["op"] == op)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class RawClient:
    """A plain TCP client for hand-made bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.peer = "127.0.0.1:%d" % self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise AssertionError(f"connection closed after {len(out)} of {n} bytes")
            out += chunk
        return out

    def closed_by_server(self) -> bool:
        """True once the server closed the connection (reads what is left)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def first_request(body: bytes) -> bytes:
    return handshake_request(FLUME_HASH, None, FLUME_HASH) + body


def send_batch(port: int, events: list[tuple[dict, bytes]]) -> bytes:
    """One appendBatch on a new connection; the reply pack's payload."""
    c = RawClient(port)
    try:
        body = b"".join(event(h, b) for h, b in events)
        c.send(pack(1, first_request(call("appendBatch", bytes([2 * len(events)]) + body + b"\x00"))))
        return c.recv_exactly(len(pack(1, HS_BOTH + OK)))[12:]
    finally:
        c.close()


class FailingFirstStore(FlumePollingReceiver):
    """Fault injection: the first ``storeAll`` fails as a full disk would."""

    def onStart(self) -> None:
        self._failed = False
        super().onStart()

    def storeAll(self, items) -> None:
        if not self._failed:
            self._failed = True
            raise OSError(28, "No space left on device")
        super().storeAll(items)
