"""A receiver for Flume's ``ThriftSourceProtocol``: fluvial in place of a Flume ThriftSource.

A Flume agent's ThriftSink (or any ``ThriftRpcClient``) sends events to
``hostname:port``; each event becomes the record ``(headers: dict[str, str],
bodyDecoder(body))``. The receiver stores ``(headers, body bytes)``, so the
write-ahead log holds the bytes Flume sent, and each batch decodes bodies
when it runs (:class:`~fluvial.streaming.flume.dstream.FlumeInputDStream`, as
for the Avro receivers). Wire format as Flume's ThriftSource accepts it: framed
transport (a 4-byte big-endian length before each message; Java's
``TFastFramedTransport``/``TFramedTransport``) carrying the compact
(``protocol="compact"``, Flume's default) or binary protocol (``"binary"``:
messages with or without the version word, replies with it, as Java's
``TBinaryProtocol.Factory()``). :mod:`~fluvial.streaming.flume.thrift_wire`
decodes calls and encodes replies (thriftpy2, from the IDL in
:data:`FLUME_THRIFT_IDL`, with checks); this module does framing and the
server loop (one thread per connection).

Guarantees:

* **OK means stored.** ``append``/``appendBatch`` is answered ``OK`` only after
  ``storeAll`` returned for all its events as one block — with
  ``spark.streaming.receiver.writeAheadLog.enable=true`` that is after the
  block is durably in the write-ahead log — so a sink that gets ``OK`` may
  forget the events. Events of one request stay in order in one block.
  Across a driver crash, with the log on, every event answered ``OK`` is
  processed by the context ``StreamingContext.getOrCreate`` recovers
  (exactly once with idempotent output, once the sink's resends of
  unanswered requests are counted); without the log, events stored but not
  yet processed are lost with the driver, as for every receiver.
* **FAILED means not stored; the sink retries.** The answer is ``FAILED``,
  with nothing of the request stored, when the receiver is stopping or
  stopped, when storing raised (e.g. the log could not be written), or when
  the request could not be taken within ``storeTimeout`` seconds (default
  10): at once when the rate limit (``spark.streaming.receiver.maxRate``,
  backpressure) would hold it longer, after ``storeTimeout`` when no
  block-queue space (``spark.streaming.blockQueueSize``) came free. Every
  request waits under that rule, whatever other connections do — the rule
  of the Avro push receiver too. Delivery is at-least-once: a request whose
  client gave up waiting (Flume's ``request-timeout``) may still be stored
  and then resent.
* **Bad input costs one connection.** An absurd frame length (not positive,
  or above ``maxFrameBytes``), bytes that are not a Thrift message of the
  configured protocol, a message that is not a call, an unknown method, an
  event without headers or body, bytes left over after the message, or a
  connection closed in the middle of a frame: the connection is closed
  (for an unknown method after an ``UNKNOWN_METHOD`` exception reply) and
  the error — naming the peer address and what was wrong, with the frame's
  byte offset for decoding errors — is logged and reported (listener
  ``onReceiverError``). Nothing of that request is stored; every other
  connection is served on. Header strings that are not UTF-8 are decoded
  with U+FFFD in place of bad bytes, as Flume's Java side does.
* **Undecodable bodies.** When ``bodyDecoder`` raises, the
  :class:`~fluvial.streaming.flume.dstream.FlumeDecodeError` names the batch,
  the block and the event's index in it, and the event's headers.
  ``onDecodeError="fail"`` (default): the batch fails with it.
  ``"skip"``: the event is left out, logged, and counted in the stream's
  ``skippedEvents`` accumulator.
* **Limits.** The server binds only to ``hostname`` (port 0: an ephemeral
  port, chosen again at each restart; :attr:`ThriftReceiver.boundPort`);
  ``allowedClients`` (addresses or networks such as ``"10.0.0.0/8"``)
  refuses connections from elsewhere; ``maxConnections`` bounds concurrent
  connections (more are refused); ``maxFrameBytes`` bounds each message.
  Refusals are reported like bad input. Container headers claiming more
  elements than the frame has bytes, or elements that take no bytes, are
  refused before decoding, so a frame's decoding work is bounded by its
  size; its memory too, though a frame of minimal events (a few bytes each)
  decodes to objects a hundred times its size: lower ``maxFrameBytes`` where
  clients are not trusted.
* **Restarts and checkpoints.** ``onStop`` closes the listening socket and
  every connection (a request being stored still gets its answer); the
  receiver is pickled into checkpoints with its configuration only, and
  sockets and threads are created in ``onStart``.

Example::

    events = create_thrift_stream(ssc, "127.0.0.1", 4141, protocol="binary")
    events.map(lambda e: e[0].get("host")).countByValue().pprint()
"""
from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ...core.storage import StorageLevel
from ..sources.receiver import Receiver, ReceiverStoppedError, StoreTimeoutError
from ..util import shutdown_socket
from .dstream import FlumeInputDStream, utf8_decoder
from .thrift_wire import (FLUME_THRIFT_IDL, PROTOCOLS, Status, ThriftCall, ThriftInputError, decode_call,
                          encode_exception, encode_reply)

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming.flume")

__all__ = ["FLUME_THRIFT_IDL", "Status", "ThriftCall", "ThriftInputError", "ThriftReceiver", "create_thrift_stream",
           "decode_call", "encode_reply", "encode_exception"]

DEFAULT_MAX_FRAME_BYTES = 16_384_000      # Java TFramedTransport's default maximum frame
_JOIN_TIMEOUT_S = 10.0


def _networks(allowed: Iterable[str] | None) -> tuple | None:
    if allowed is None:
        return None
    if isinstance(allowed, str):
        allowed = [allowed]
    out = []
    for a in allowed:
        try:
            out.append(ipaddress.ip_network(a, strict=False))
        except ValueError as exc:
            raise ValueError(f"create_thrift_stream: allowedClients entry {a!r} is not an IP address or "
                             f"network: {exc}") from None
    return tuple(out)


def _addr(peer: Any) -> str:
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server:
    """The listening socket and connection threads of one receiver start."""

    def __init__(self, receiver: "ThriftReceiver") -> None:
        self.r = receiver
        self.stopping = False
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        try:
            info = socket.getaddrinfo(receiver.host, receiver.port, type=socket.SOCK_STREAM,
                                      flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise OSError(exc.errno, f"Thrift receiver cannot resolve {receiver.host!r} to listen on: "
                                     f"{exc.strerror or exc}") from exc
        family, kind, proto, _, addr = info[0]
        self._wake_r, self._wake_w = socket.socketpair()
        self.listener = socket.socket(family, kind, proto)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(addr)
            self.listener.listen(64)
        except OSError as exc:
            self.listener.close()
            self._wake_r.close()
            self._wake_w.close()
            raise OSError(exc.errno, f"Thrift receiver cannot listen on {receiver.host}:{receiver.port}: "
                                     f"{exc.strerror or exc}") from exc
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True,
                                       name=f"fluvial-thrift-accept-{receiver.streamId}")

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self.stopping:
                        return
                    try:
                        conn, peer = self.listener.accept()
                    except OSError as exc:      # e.g. out of file descriptors: back off, keep serving
                        log.warning("Thrift receiver %s: accept failed: %s", self.r.address, exc)
                        if self._closed.wait(0.1):
                            return
                        continue
                    self._admit(conn, peer)

    def _admit(self, conn: socket.socket, peer: Any) -> None:
        who = _addr(peer)
        refusal = None
        if self.r._allowed is not None:
            ip = ipaddress.ip_address(peer[0].split("%")[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if not any(ip in net for net in self.r._allowed):
                refusal = f"connection from {who} refused: not in allowedClients"
        with self._lock:
            if refusal is None and len(self._conns) >= self.r.maxConnections:
                refusal = (f"connection from {who} refused: maxConnections={self.r.maxConnections} "
                           "connections are open")
            if refusal is None:
                thread = threading.Thread(target=self._serve, args=(conn, who), daemon=True,
                                          name=f"fluvial-thrift-conn-{self.r.streamId}-{who}")
                self._conns[conn] = thread
        if refusal is not None:
            conn.close()
            self.r._bad_input(refusal)
            return
        thread.start()

    def close(self) -> None:
        """Stop accepting, wake every reader, wait for the connection threads
        (a request being stored is answered first)."""
        self.stopping = True
        self._closed.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(_JOIN_TIMEOUT_S)
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()
        with self._lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            shutdown_socket(conn, socket.SHUT_RD)
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT_S)
                if thread.is_alive():
                    log.warning("Thrift receiver %s: connection thread %s still busy %.0f s after stop",
                                self.r.address, thread.name, _JOIN_TIMEOUT_S)

    # -- one connection ------------------------------------------------------
    def _serve(self, conn: socket.socket, who: str) -> None:
        log.info("Thrift receiver %s: connection from %s", self.r.address, who)
        try:
            while not self.stopping:
                frame = self._read_frame(conn, who)
                if frame is None:
                    return
                reply, error = self.r._handle(frame, who)
                if reply:
                    conn.sendall(reply)
                if error is not None:
                    self.r._bad_input(f"{who}: {error}; connection dropped")
                    return
        except ThriftInputError as exc:
            if not self.stopping:
                self.r._bad_input(f"{who}: {exc}; connection dropped")
        except OSError as exc:
            if not self.stopping:
                log.warning("Thrift receiver %s: connection from %s failed: %s", self.r.address, who, exc)
        finally:
            with self._lock:
                self._conns.pop(conn, None)
            conn.close()

    def _read_frame(self, conn: socket.socket, who: str) -> bytes | None:
        """The next frame's payload; None when the client closed between frames."""
        head = self._recv(conn, 4, "frame length", allow_eof=True)
        if head is None:
            return None
        size = int.from_bytes(head, "big", signed=True)
        limit = self.r.maxFrameBytes
        if size <= 0 or size > limit:
            hint = " (an unframed client? this receiver expects framed transport)" if size < 0 or size > limit else ""
            raise ThriftInputError(f"frame length {size} (bytes {head.hex()}) is outside 1..maxFrameBytes={limit}"
                                   f"{hint}")
        return self._recv(conn, size, f"frame of {size} bytes")

    def _recv(self, conn: socket.socket, n: int, what: str, allow_eof: bool = False) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = conn.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                if allow_eof and not buf:
                    return None
                if self.stopping:
                    raise OSError("receiver stopping")
                raise ThriftInputError(f"connection closed mid-frame: {len(buf)} of the {n} bytes of the {what} "
                                       "arrived")
            buf += chunk
        return bytes(buf)


class ThriftReceiver(Receiver):
    """Flume ``ThriftSourceProtocol`` server; see the module docstring for its guarantees."""

    _transient = ("_server", "_lock", "boundPort")

    def __init__(self, hostname: str, port: int, protocol: str = "compact", *,
                 maxFrameBytes: int = DEFAULT_MAX_FRAME_BYTES, maxConnections: int = 64,
                 allowedClients: Iterable[str] | None = None, storeTimeout: float = 10.0,
                 storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> None:  # type: ignore[attr-defined]
        if not isinstance(hostname, str) or not hostname:
            raise ValueError(f"create_thrift_stream: hostname must be a non-empty string, got {hostname!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"create_thrift_stream: port must be an integer in 0..65535, got {port!r}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"create_thrift_stream: protocol must be 'compact' or 'binary', got {protocol!r}")
        for key, value in (("maxFrameBytes", maxFrameBytes), ("maxConnections", maxConnections)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"create_thrift_stream: {key} must be a positive integer, got {value!r}")
        if isinstance(storeTimeout, bool) or not isinstance(storeTimeout, (int, float)) or not storeTimeout > 0:
            raise ValueError(f"create_thrift_stream: storeTimeout must be a positive number of seconds, "
                             f"got {storeTimeout!r}")
        super().__init__(storageLevel)
        self.storeTimeout = float(storeTimeout)
        self.host = hostname
        self.port = port
        self.protocol = protocol
        self.maxFrameBytes = maxFrameBytes
        self.maxConnections = maxConnections
        self.allowedClients = None if allowedClients is None else (
            [allowedClients] if isinstance(allowedClients, str) else list(allowedClients))
        self._allowed = _networks(self.allowedClients)
        self.boundPort: int | None = None
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def _after_restore(self) -> None:
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.boundPort if self.boundPort is not None else self.port}"

    def onStart(self) -> None:
        server = _Server(self)        # raises if the address cannot be bound: the supervisor restarts us
        self.boundPort = server.port
        with self._lock:
            self._server = server
        server.thread.start()
        log.info("Thrift receiver (%s protocol) listening on %s", self.protocol, self.address)

    def onStop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()
            log.info("Thrift receiver %s closed", self.address)

    # -- requests ----------------------------------------------------------
    def _bad_input(self, message: str) -> None:
        self.reportError(f"Thrift receiver {self.address}: {message}")

    def _handle(self, frame: bytes, who: str) -> tuple[bytes, str | None]:
        """(reply bytes, error that ends the connection or None) for one frame."""
        try:
            call = decode_call(frame, self.protocol)
        except ThriftInputError as exc:
            method = getattr(exc, "method", None)
            if method is None:
                raise
            return encode_exception(method, exc.seqid, str(exc), self.protocol), str(exc)  # type: ignore[attr-defined]
        return encode_reply(call.method, call.seqid, self._store(call.events, call, who), self.protocol), None

    def _store(self, records: list, call: ThriftCall, who: str) -> int:
        """Store the request's records as one block; the status to answer."""
        server = self._server
        if self.isStopped() or server is None or server.stopping:
            return Status.FAILED
        try:
            self.storeAll(records, timeout=self.storeTimeout)
        except StoreTimeoutError as exc:
            if not server.stopping:
                self.reportError(f"Thrift receiver {self.address}: {call.method} of {len(records)} events from {who} "
                                 f"not stored within storeTimeout={self.storeTimeout:g} s; answered FAILED (the sink "
                                 f"sends them again): {exc}")
            return Status.FAILED
        except ReceiverStoppedError:
            return Status.FAILED
        except Exception as exc:  # noqa: BLE001 - e.g. the write-ahead log failed: not stored, the sink retries
            self.reportError(f"Thrift receiver {self.address}: could not store {call.method} of {len(records)} "
                             f"events from {who}: {type(exc).__name__}: {exc}; answered FAILED", exc)
            return Status.FAILED
        return Status.OK


def create_thrift_stream(ssc: "StreamingContext", hostname: str, port: int, protocol: str = "compact",
                         bodyDecoder: Callable[[bytes], Any] = utf8_decoder, **options: Any) -> FlumeInputDStream:
    """A stream of ``(headers, bodyDecoder(body))`` for every event Flume
    ThriftSinks send to ``hostname:port`` (see the module docstring).

    ``options``: ``maxFrameBytes`` (default 16,384,000), ``maxConnections``
    (64), ``allowedClients`` (addresses/networks; default any),
    ``storeTimeout`` (seconds a request may wait for the rate limit or
    block-queue space before it is answered ``FAILED``; 10),
    ``onDecodeError`` (``"fail"``, the default, or ``"skip"``), ``storageLevel``."""
    known = {"maxFrameBytes", "maxConnections", "allowedClients", "storeTimeout", "onDecodeError", "storageLevel"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"create_thrift_stream: unknown option(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(known))}")
    on_decode_error = options.pop("onDecodeError", "fail")
    return FlumeInputDStream(ssc, ThriftReceiver(hostname, port, protocol, **options), bodyDecoder, on_decode_error)
