"""socketTextStream's receiver: lines of text from a TCP server.

The receiver connects as a client to ``host:port`` and stores each line as a
record. As with Spark's ``BufferedReader.readLine``, a line ends at ``\\n``,
``\\r\\n`` or a lone ``\\r`` (terminators are dropped), and a last line
without terminator is stored when the server closes the connection.

Failure behaviour:

* Cannot connect: the error, naming ``host:port``, is reported (listener
  ``onReceiverError``, a logged warning) and the receiver retries after
  ``spark.streaming.receiverRestartDelay``, for as long as the context runs.
* The server closes the connection: the receiver restarts ("Socket data
  stream had no more data") and connects again, as Spark does.
* A line that is not valid UTF-8 is dropped and reported with the connection
  and the byte offset (Spark would store it with U+FFFD in place of the bad
  bytes). The connection stays open, so the lines after it are not lost, as
  they would be if the receiver restarted.
* Stopping the stream closes the connection; a partial line received before
  the close is discarded with a warning.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import selectors
import socket
import threading
from typing import Callable

from ...core.storage import StorageLevel
from .receiver import Receiver
from .supervisor import ReceiverStoppedError
from ..util import shutdown_socket

log = logging.getLogger("fluvial.streaming")

__all__ = ["SocketReceiver"]

_RECV_SIZE = 1 << 16
_EOL = re.compile(rb"[\r\n]")
_CONNECT_POLL_S = 0.1
_JOIN_TIMEOUT_S = 10.0


class LineSplitter:
    """Cuts a byte stream into lines the way ``BufferedReader.readLine`` does.

    ``feed`` returns ``(line bytes, byte offset of the line in the stream)``
    for every line completed by the new data; ``finish`` returns the last,
    unterminated line (if any) at end of stream."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0            # stream offset of _buf[0]
        self._skip_lf = False     # the previous chunk ended with \r

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        if self._skip_lf and end:
            if buf[0] == 0x0A:
                pos = 1
            self._skip_lf = False
        out: list[tuple[bytes, int]] = []
        while True:
            m = _EOL.search(buf, pos)
            if m is None:
                break
            i = m.start()
            out.append((bytes(buf[pos:i]), self._base + pos))
            if buf[i] == 0x0D:
                if i + 1 == end:
                    self._skip_lf = True
                    pos = end
                    break
                pos = i + 2 if buf[i + 1] == 0x0A else i + 1
            else:
                pos = i + 1
        del buf[:pos]
        self._base += pos
        return out

    @property
    def pending(self) -> tuple[int, int]:
        """(bytes of the unterminated line so far, its stream offset)."""
        return len(self._buf), self._base

    def finish(self) -> tuple[bytes, int] | None:
        if not self._buf:
            return None
        line = (bytes(self._buf), self._base)
        self._base += len(self._buf)
        self._buf.clear()
        return line


class _Connection:
    """One connection attempt; ``close`` (from any thread) aborts connecting and reading."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self.closed = False
        self._sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def connect(self) -> socket.socket | None:
        """A connected socket, or None if closed meanwhile; OSError if no address accepts."""
        last: OSError | None = None
        for family, kind, proto, _, addr in socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self.closed:
                    sock.close()
                    return None
                self._sock = sock
            try:
                if _connect(sock, addr, lambda: self.closed):
                    return sock
            except OSError as exc:
                last = exc
            with self._lock:
                self._sock = None
            sock.close()
            if self.closed:
                return None
        raise last if last is not None else OSError(f"no address found for {self.host}:{self.port}")

    def close(self) -> None:
        """Wake the reading thread (it closes the socket itself)."""
        with self._lock:
            self.closed = True
            sock = self._sock
        if sock is not None:
            shutdown_socket(sock)

    def release(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _connect(sock: socket.socket, addr: tuple, cancelled: Callable[[], bool]) -> bool:
    """Connect without blocking past a cancellation; True once connected."""
    sock.setblocking(False)
    err = sock.connect_ex(addr)
    if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
        raise OSError(err, os.strerror(err))
    if err:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_WRITE)
            while not sel.select(_CONNECT_POLL_S):
                if cancelled():
                    return False
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
    sock.setblocking(True)
    return not cancelled()


class SocketReceiver(Receiver):
    """Receives ``\\n``-separated UTF-8 lines from ``hostname:port`` (see module docstring)."""

    _transient = ("_lock", "_conn")

    def __init__(self, hostname: str, port: int,
                 storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> None:  # type: ignore[attr-defined]
        if not isinstance(hostname, str) or not hostname:
            raise ValueError(f"socketTextStream: hostname must be a non-empty string, got {hostname!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"socketTextStream: port must be an integer in 1..65535, got {port!r}")
        super().__init__(storageLevel)
        self.host = hostname
        self.port = port
        self._lock = threading.Lock()
        self._conn: _Connection | None = None

    def _after_restore(self) -> None:
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def onStart(self) -> None:
        conn = _Connection(self.host, self.port)
        conn.thread = threading.Thread(target=self._run, args=(conn,), daemon=True,
                                       name=f"fluvial-socket-receiver-{self.streamId}")
        with self._lock:
            self._conn = conn
        conn.thread.start()

    def onStop(self) -> None:
        """Close the connection and wait for its thread (which may first finish
        storing the lines it already read)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.close()
        thread = conn.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("%s: receiving thread still busy %.0f s after the socket was closed",
                            self.address, _JOIN_TIMEOUT_S)
        log.info("Closed socket to %s", self.address)

    def _run(self, conn: _Connection) -> None:
        log.info("Connecting to %s", self.address)
        try:
            try:
                sock = conn.connect()
            except OSError as exc:
                if not conn.closed:
                    self.restart(f"Error connecting to {self.address}: {exc}", exc)
                return
            if sock is None:
                return
            log.info("Connected to %s", self.address)
            self._receive(conn, sock)
        finally:
            conn.release()

    def _receive(self, conn: _Connection, sock: socket.socket) -> None:
        lines = LineSplitter()
        count = [0]
        while True:
            try:
                chunk = sock.recv(_RECV_SIZE)
            except OSError as exc:
                if not conn.closed:
                    self.restart(f"Error receiving data from {self.address}", exc)
                return
            if not chunk:
                break
            if not self._store_lines(lines.feed(chunk), count):
                return
        if conn.closed:
            size, offset = lines.pending
            if size:
                log.warning("%s: discarded a partial line of %d bytes at byte offset %d of the connection: "
                            "the receiver stopped before its end arrived", self.address, size, offset)
            log.info("Stopped receiving from %s", self.address)
            return
        tail = lines.finish()
        if tail is not None and not self._store_lines([tail], count):
            return
        if not conn.closed:
            self.restart(f"Socket data stream had no more data ({self.address} closed the connection)")

    def _store_lines(self, lines: list[tuple[bytes, int]], count: list[int]) -> bool:
        """Store decoded lines; False if the stream stopped (the rest are not stored)."""
        for k, (raw, offset) in enumerate(lines):
            count[0] += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.reportError(
                    f"Undecodable bytes (not UTF-8) from {self.address} at byte offset {offset + exc.start} "
                    f"of the connection (line {count[0]}, {raw[exc.start:exc.start + 8]!r}): line dropped",
                    exc)
                continue
            try:
                self.store(line)
            except ReceiverStoppedError:
                log.warning("%s: the stream stopped; %d received lines were not stored",
                            self.address, len(lines) - k)
                return False
        return True
