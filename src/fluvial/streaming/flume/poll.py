"""The polling receiver behind ``FlumeUtils.createPollingStream``: an Avro RPC
client of Spark's ``SparkFlumeProtocol`` (``getEventBatch``, ``ack``,
``nack``), polling the SparkSinks of Flume agents.

Guarantees (as Spark's ``FlumePollingInputDStream``):

* One connection per address; ``parallelism`` fetcher threads share them (a
  connection serves one call at a time). Each fetcher loops: ask for up to
  ``maxBatchSize`` events, store them as one block with ``storeAll``, then
  ``ack`` the batch's sequence number. A batch is acknowledged only after
  ``storeAll`` returned (with the write-ahead log on: after it is durably
  logged), so the sink commits its transaction only for stored events.
* Storing fails (the stream is stopping, the log cannot be written): the
  batch is ``nack``-ed and the sink rolls back and delivers it again. If the
  connection breaks before the ``ack`` arrives, the sink rolls back after its
  own ``timeout``: at-least-once, a stored batch may come again.
* An *error batch* (non-empty ``errorMsg``: the sink is stopping, its channel
  failed, or it found nothing to send) is logged, never stored and never
  acknowledged; the fetcher waits ``errorBackoff`` seconds before asking
  that sink again.
* A connection that fails (refused, reset, a response that is not valid
  framing or Avro) is reported with the sink's address, closed, and opened
  again after ``errorBackoff``; other sinks are polled on meanwhile.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ...core.storage import StorageLevel
from ..sources.receiver import Receiver
from ..sources.supervisor import ReceiverStoppedError
from ..util import shutdown_socket
from .ipc import SPARK_FLUME_PROTOCOL, ClientSession, Protocol, ProtocolError, RemoteError
from .netty import FrameLimits, FramingError, PackReader, encode_pack

log = logging.getLogger("fluvial.streaming.flume")

__all__ = ["FlumePollingReceiver", "PollOptions", "AvroNettyClient"]

_RECV = 1 << 16
_CONNECT_TIMEOUT_S = 10.0
_JOIN_S = 10.0


@dataclass(frozen=True)
class PollOptions:
    maxBatchSize: int = 1000
    parallelism: int = 5
    maxFrameBytes: int = 64 << 20
    errorBackoff: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.maxBatchSize, int) or self.maxBatchSize < 1:
            raise ValueError(f"maxBatchSize must be a positive int, got {self.maxBatchSize!r}")
        if not isinstance(self.parallelism, int) or self.parallelism < 1:
            raise ValueError(f"parallelism must be a positive int, got {self.parallelism!r}")
        FrameLimits(4096, self.maxFrameBytes)
        if not self.errorBackoff >= 0:
            raise ValueError(f"errorBackoff must be >= 0 seconds, got {self.errorBackoff!r}")


class AvroNettyClient:
    """One persistent Avro Netty connection (a SparkSink's, by default; any
    protocol given as ``local``), not thread-safe: one call at a time. ``call`` raises ``OSError`` (connection),
    :class:`ProtocolError`/:class:`FramingError` (bad response) or
    :class:`RemoteError` (the sink answered with an error)."""

    def __init__(self, host: str, port: int, limits: FrameLimits, local: Protocol | None = None) -> None:
        self.host, self.port = host, port
        self.address = f"{host}:{port}"          # for messages
        self.limits = limits
        self.local = local or Protocol(SPARK_FLUME_PROTOCOL)
        self.sock: socket.socket | None = None
        self._session: ClientSession | None = None
        self._reader: PackReader | None = None

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=_CONNECT_TIMEOUT_S)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._session = ClientSession(self.local)
        self._reader = PackReader(self.limits)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            shutdown_socket(sock)
            sock.close()

    def interrupt(self) -> None:
        """Wake a call blocked in another thread (it fails with OSError)."""
        sock = self.sock
        if sock is not None:
            shutdown_socket(sock)

    def call(self, name: str, params: dict[str, Any]) -> Any:
        if self.sock is None:
            self.connect()
        session = self._session
        assert session is not None
        done, value = self._exchange(name, session.request(name, params))
        if not done:   # handshake NONE: send the call again with our protocol text
            done, value = self._exchange(name, session.request(name, params, with_text=True))
            if not done:
                raise ProtocolError(f"{self.address} answered the handshake with NONE twice")
        return value

    def _exchange(self, name: str, payload: bytes) -> tuple[bool, Any]:
        sock, reader, session = self.sock, self._reader, self._session
        assert sock is not None and reader is not None and session is not None
        serial = session.next_serial()
        sock.sendall(encode_pack(serial, [payload]))
        while True:
            data = sock.recv(_RECV)
            if not data:
                raise ConnectionError(f"{self.address} closed the connection while {name!r} waited for its "
                                      f"response ({reader.buffered} bytes of it received)")
            packs = reader.feed(data)
            if packs:
                if len(packs) > 1 or reader.buffered:
                    raise ProtocolError(f"{self.address} sent more than one response to {name!r}")
                got, body = packs[0]
                if got != serial:
                    raise ProtocolError(f"{self.address} answered serial {got} to a request with serial {serial}")
                return session.read_response(name, body)


class FlumePollingReceiver(Receiver):
    """Records are ``(headers: dict[str, str], body: bytes)``; see the module docstring."""

    _transient = ("_clients", "_idle", "_threads", "_stopping")

    def __init__(self, addresses: Sequence[tuple[str, int]],
                 storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2,  # type: ignore[attr-defined]
                 options: PollOptions = PollOptions()) -> None:
        super().__init__(storageLevel)
        if isinstance(addresses, (str, bytes)) or not addresses:
            raise TypeError(f"addresses must be a non-empty list of (host, port) pairs, got {addresses!r}")
        checked = []
        for a in addresses:
            if (not isinstance(a, (tuple, list)) or len(a) != 2 or not isinstance(a[0], str)
                    or not isinstance(a[1], int) or not 0 < a[1] <= 65535):
                raise ValueError(f"addresses entry {a!r} is not a (host: str, port: int) pair")
            checked.append((a[0], a[1]))
        self.addresses = checked
        self.options = options
        self._clients: list[AvroNettyClient] | None = None

    def onStart(self) -> None:
        opts = self.options
        limits = FrameLimits(4096, opts.maxFrameBytes)
        local = Protocol(SPARK_FLUME_PROTOCOL)
        self._clients = [AvroNettyClient(h, p, limits, local) for h, p in self.addresses]
        self._idle: queue.Queue[AvroNettyClient] = queue.Queue()
        for c in self._clients:
            self._idle.put(c)
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._fetch_loop, daemon=True,
                                          name=f"fluvial-flume-poll-{self.streamId}-{i}")
                         for i in range(opts.parallelism)]
        for t in self._threads:
            t.start()

    def onStop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is None:
            return
        stopping.set()
        for c in self._clients or []:
            c.interrupt()
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join(_JOIN_S)
        for c in self._clients or []:
            c.close()

    def _fetch_loop(self) -> None:
        stopping = self._stopping
        while not stopping.is_set():
            try:
                client = self._idle.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                backoff = self._poll_once(client)
            finally:
                self._idle.put(client)
            if backoff:
                stopping.wait(self.options.errorBackoff)

    def _poll_once(self, client: AvroNettyClient) -> bool:
        """One getEventBatch → store → ack/nack round; True to back off."""
        seq: str | None = None
        try:
            batch = client.call("getEventBatch", {"n": self.options.maxBatchSize})
            if batch["errorMsg"]:
                log.warning("Flume SparkSink %s returned an error batch (not stored): %s", client.address,
                            batch["errorMsg"])
                return True
            seq = batch["sequenceNumber"]
            records = [(e["headers"], e["body"]) for e in batch["events"]]
            try:
                self.storeAll(records)
            except Exception as exc:  # noqa: BLE001 - not stored: the sink must deliver the batch again
                if not isinstance(exc, ReceiverStoppedError):
                    self.reportError(f"Flume polling receiver: storing {len(records)} events of batch {seq!r} "
                                     f"from {client.address} failed; sending nack", exc)
                unacked, seq = seq, None
                client.call("nack", {"sequenceNumber": unacked})
                return isinstance(exc, ReceiverStoppedError)
            acked, seq = seq, None
            client.call("ack", {"sequenceNumber": acked})
            return False
        except (OSError, ProtocolError, FramingError, RemoteError) as exc:
            client.close()
            if self._stopping.is_set():
                return False
            after = f" (batch {seq!r} was not acknowledged; the sink rolls it back after its timeout)" if seq else ""
            self.reportError(f"Flume polling receiver: connection to SparkSink {client.address} failed: "
                             f"{type(exc).__name__}: {exc}{after}; reconnecting", exc)
            return True
