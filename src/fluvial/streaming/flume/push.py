"""The push receiver behind ``FlumeUtils.createStream``: an Avro RPC server
speaking Flume's ``AvroSourceProtocol`` (``append``, ``appendBatch``) over
Avro's Netty framing, which a Flume ``avro`` sink (AvroSink) sends to.

Guarantees:

* A request is answered ``OK`` only after ``storeAll`` returned for its
  events: they are stored and, with ``spark.streaming.receiver.writeAheadLog.enable``,
  durably in the write-ahead log; a sink that got ``OK`` may forget them.
  The events of one request form one block, in request order.
* ``FAILED`` means nothing of the request was stored: the stream is
  stopping, storing failed (e.g. the log could not be written), or the
  request could not be taken within ``storeTimeout`` seconds — answered at
  once when the rate limit (``spark.streaming.receiver.maxRate``,
  backpressure) would hold it longer, after ``storeTimeout`` when the
  memory bound (``spark.streaming.blockQueueSize`` blocks queued behind the
  running batch) did not free up. Every request waits under the same rule,
  whatever other connections do (the Thrift receiver's rule too). Flume
  then rolls its transaction back and sends the events again: delivery is
  at-least-once (a sink that gave up waiting, Flume's ``request-timeout``,
  resends what may since have been stored).
* ``appendBatch`` events are stored as the call's Avro bytes, undecoded
  (:class:`~fluvial.streaming.flume.events.PackedEvents`: one block per
  call, counted as its events by the rate limit, the block queue and
  ``numRecords``); only the array's block headers are read here, and the
  stream's tasks decode the events in the worker processes. Events that
  pass that check but are not valid Avro are reported by the batch that
  decodes them, naming the peer (see ``onDecodeError``). ``append`` events
  and clients whose event schema is laid out differently from ours are
  decoded here.
* Each connection keeps its own handshake state; the Avro handshake's
  ``NONE`` → resend path (a real Flume client's protocol has a ``doc`` and a
  different MD5) is handled, and clients are resolved against this protocol.
* Bad input — a frame over ``maxBuffersPerFrame``/``maxFrameBytes``,
  bytes that are not a call, an unknown message, a corrupt compressed stream,
  a connection closed in the middle of a frame — drops that connection only;
  the error names the peer and what was wrong (logged, and posted to
  listeners as a receiver error). An unknown message is answered with an
  Avro system error first. Other connections are served on.
* The server binds only to ``hostname:port`` (port 0: any free port, see
  :attr:`FlumePushReceiver.boundAddress`); with ``allowedClients``, other
  peers are disconnected at once (and reported). At most ``maxConnections``
  connections are served at a time; more are refused.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ...core.storage import StorageLevel
from ..sources.receiver import Receiver
from ..sources.supervisor import ReceiverStoppedError, StoreTimeoutError
from ..util import shutdown_socket
from .events import PackedEvents, count_events
from .ipc import AVRO_SOURCE_PROTOCOL, Call, Protocol, ProtocolError, ServerSession, UnknownMessageError
from .netty import Deflater, FrameLimits, FramingError, Inflater, PackReader, encode_pack

log = logging.getLogger("fluvial.streaming.flume")

__all__ = ["FlumePushReceiver", "PushOptions", "STATUS_OK", "STATUS_FAILED"]

STATUS_OK = b"\x00"        # Status enum index 0
STATUS_FAILED = b"\x02"    # index 1, zig-zag
_RECV = 1 << 16
_JOIN_S = 10.0
_RAW = frozenset({"appendBatch"})      # stored as PackedEvents, decoded by the stream's tasks


@dataclass(frozen=True)
class PushOptions:
    """Server settings (keyword arguments of ``createStream``).

    ``maxFrameBytes``/``maxBuffersPerFrame``: caps per request frame.
    ``maxConnections``: connections served at once. ``allowedClients``:
    client IP addresses or networks (``"10.0.0.0/8"``) allowed to connect;
    None allows any. ``storeTimeout``: seconds a request may wait for the
    rate limit or block-queue space before it is answered ``FAILED``, with
    nothing stored (Flume's request-timeout is 20 s)."""

    maxFrameBytes: int = 64 << 20
    maxBuffersPerFrame: int = 4096
    maxConnections: int = 64
    allowedClients: tuple[str, ...] | None = None
    storeTimeout: float = 10.0
    _networks: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        FrameLimits(self.maxBuffersPerFrame, self.maxFrameBytes)
        if self.maxConnections < 1:
            raise ValueError(f"maxConnections must be at least 1, got {self.maxConnections}")
        if not self.storeTimeout > 0:
            raise ValueError(f"storeTimeout must be a positive number of seconds, got {self.storeTimeout}")
        if self.allowedClients is not None:
            if isinstance(self.allowedClients, str):
                raise TypeError("allowedClients must be a list of addresses or networks, not a single string")
            nets = []
            for entry in self.allowedClients:
                try:
                    nets.append(ipaddress.ip_network(entry, strict=False))
                except ValueError as exc:
                    raise ValueError(f"allowedClients entry {entry!r} is not an IP address or network") from exc
            object.__setattr__(self, "allowedClients", tuple(self.allowedClients))
            object.__setattr__(self, "_networks", tuple(nets))

    @property
    def limits(self) -> FrameLimits:
        return FrameLimits(self.maxBuffersPerFrame, self.maxFrameBytes)

    def allows(self, host: str) -> bool:
        if self.allowedClients is None:
            return True
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._networks)


class _Conn:
    __slots__ = ("sock", "peer", "thread")

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.thread: threading.Thread | None = None


class FlumePushReceiver(Receiver):
    """Records are ``(headers: dict[str, str], body: bytes)``; the stream
    decodes bodies (see :class:`~fluvial.streaming.flume.dstream.FlumeInputDStream`)."""

    _transient = ("_listener", "_conns", "_lock", "_protocols", "_closing", "_accept_thread",
                  "_local", "boundAddress")

    def __init__(self, hostname: str, port: int, storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2,  # type: ignore[attr-defined]
                 enableDecompression: bool = False, options: PushOptions = PushOptions()) -> None:
        super().__init__(storageLevel)
        if not isinstance(hostname, str) or not hostname:
            raise TypeError(f"hostname must be a non-empty str, got {hostname!r}")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        self.hostname = hostname
        self.port = port
        self.enableDecompression = bool(enableDecompression)
        self.options = options
        self.boundAddress: tuple[str, int] | None = None
        self._listener: socket.socket | None = None

    # -- lifecycle ----------------------------------------------------------
    def onStart(self) -> None:
        self._local = Protocol(AVRO_SOURCE_PROTOCOL)
        self._protocols = {self._local.hash: self._local}
        self._lock = threading.Lock()
        self._conns: dict[int, _Conn] = {}
        self._closing = threading.Event()
        try:
            listener = socket.create_server((self.hostname, self.port), backlog=128, family=_family(self.hostname))
        except OSError as exc:       # reported by the supervisor, which retries after receiverRestartDelay
            raise OSError(exc.errno, f"Flume Avro receiver cannot listen on {self.hostname}:{self.port}: "
                                     f"{exc.strerror or exc}") from exc
        self._listener = listener
        self.boundAddress = listener.getsockname()[:2]
        log.info("Flume Avro receiver of stream %d listening on %s:%d%s", self.streamId, *self.boundAddress,
                 " (deflate)" if self.enableDecompression else "")
        self._accept_thread = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                               name=f"fluvial-flume-accept-{self.streamId}")
        self._accept_thread.start()

    def onStop(self) -> None:
        """Stop accepting, stop reading, let each connection answer the request
        it is handling (``FAILED`` if its events were not stored), then close."""
        closing = getattr(self, "_closing", None)
        if closing is None:
            return
        closing.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            shutdown_socket(listener)
            listener.close()
        me = threading.current_thread()
        if self._accept_thread is not None and self._accept_thread is not me:
            self._accept_thread.join(_JOIN_S)
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            shutdown_socket(c.sock, socket.SHUT_RD)     # a blocked recv returns; answers can still be sent
        deadline = time.monotonic() + _JOIN_S
        for c in conns:
            if c.thread is not None and c.thread is not me:
                c.thread.join(max(0.0, deadline - time.monotonic()))
                if c.thread.is_alive():            # stuck sending to a peer that does not read
                    shutdown_socket(c.sock)
                    c.thread.join(1.0)

    # -- accepting ----------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while not self._closing.is_set():
            try:
                sock, addr = listener.accept()
            except OSError as exc:
                if not self._closing.is_set():
                    self.restart(f"Flume Avro receiver on {self.hostname}:{self.port} stopped accepting", exc)
                return
            peer = _peer(addr)
            if not self.options.allows(addr[0]):
                self.reportError(f"Flume Avro receiver: connection from {peer} refused (not in allowedClients)")
                sock.close()
                continue
            with self._lock:
                if len(self._conns) >= self.options.maxConnections:
                    full = True
                else:
                    full = False
                    conn = _Conn(sock, peer)
                    self._conns[id(conn)] = conn
            if full:
                self.reportError(f"Flume Avro receiver: connection from {peer} refused: already serving "
                                 f"maxConnections={self.options.maxConnections} connections")
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                           name=f"fluvial-flume-conn-{peer}")
            conn.thread.start()

    # -- one connection -----------------------------------------------------
    def _serve(self, conn: _Conn) -> None:
        sock, peer = conn.sock, conn.peer
        opts = self.options
        reader = PackReader(opts.limits)
        inflater = Inflater(opts.maxFrameBytes + (1 << 20)) if self.enableDecompression else None
        deflater = Deflater(6) if self.enableDecompression else None
        session = ServerSession(self._local, self._protocols, self._lock, _RAW)
        try:
            while True:
                try:
                    data = sock.recv(_RECV)
                except OSError as exc:
                    if not self._closing.is_set():
                        self.reportError(f"Flume Avro connection from {peer}: receive failed; connection dropped",
                                         exc)
                    return
                if not data:
                    if reader.buffered and not self._closing.is_set():
                        self.reportError(f"Flume Avro connection from {peer} closed in the middle of a frame "
                                         f"({reader.buffered} bytes of an incomplete frame at byte "
                                         f"{reader.offset}); that request was not stored")
                    return
                if inflater is not None:
                    data = inflater.feed(data)
                for serial, payload in reader.feed(data):
                    reply = self._respond(session, payload, peer, sock, serial, deflater)
                    packed = encode_pack(serial, [reply])
                    sock.sendall(deflater.wrap(packed) if deflater is not None else packed)
        except (FramingError, ProtocolError) as exc:
            self.reportError(f"Flume Avro connection from {peer}: {exc}; connection dropped", exc)
        except OSError as exc:
            if not self._closing.is_set():
                self.reportError(f"Flume Avro connection from {peer}: sending the response failed; "
                                 "connection dropped", exc)
        finally:
            with self._lock:
                self._conns.pop(id(conn), None)
            sock.close()

    def _respond(self, session: ServerSession, payload: bytes, peer: str, sock: socket.socket, serial: int,
                 deflater: Deflater | None) -> bytes:
        try:
            call = session.read_request(payload)
        except UnknownMessageError as exc:   # answered (as Java does) before the connection is dropped
            reply = ServerSession.error_response(exc.handshake, f"org.apache.avro.AvroRuntimeException: {exc}")
            packed = encode_pack(serial, [reply])
            try:
                sock.sendall(deflater.wrap(packed) if deflater is not None else packed)
            except OSError:
                pass
            raise
        if isinstance(call, bytes):
            return call
        return ServerSession.response(call, self._store_call(call, peer))

    def _store_call(self, call: Call, peer: str) -> bytes:
        records: list
        if call.raw is not None:               # appendBatch in our layout: stored undecoded, counted
            count = count_events(call.raw)
            if not count:
                return STATUS_OK
            records = [PackedEvents(peer, count, call.raw)]
        else:
            assert call.params is not None
            events = [call.params["event"]] if call.name == "append" else call.params["events"]
            if not events:
                return STATUS_OK
            records = [(e["headers"], e["body"]) for e in events]
            count = len(records)
        try:
            self.storeAll(records, count, timeout=self.options.storeTimeout)
            return STATUS_OK
        except StoreTimeoutError as exc:
            if not self._closing.is_set():
                self.reportError(f"Flume Avro receiver: {count} events from {peer} not stored within "
                                 f"storeTimeout={self.options.storeTimeout:g} s; answered FAILED (the sink sends them "
                                 f"again): {exc}")
        except ReceiverStoppedError:
            log.info("Flume Avro receiver of stream %d is stopping: %d events from %s answered FAILED",
                     self.streamId, count, peer)
        except Exception as exc:  # noqa: BLE001 - storing failed: Flume retries the batch
            self.reportError(f"Flume Avro receiver: storing {count} events from {peer} failed; answered FAILED", exc)
        return STATUS_FAILED


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def _peer(addr: Sequence[Any]) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
