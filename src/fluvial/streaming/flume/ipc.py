"""Avro IPC over one persistent connection: protocols, the stateful handshake
and call/response encoding (the Avro specification's "Protocol Wire Format",
as Avro's Java ``Requestor``/``Responder`` implement it). Datums are encoded
and decoded by fastavro; this module writes only what no maintained Python
library offers for a persistent (Netty) connection.

Handshake state is per connection: the first request carries a
``HandshakeRequest``; once the server answered ``BOTH`` or ``CLIENT``, later
requests and responses on that connection carry none. On ``NONE`` the server
returns only the handshake and the client sends the same call again with its
protocol text. A client whose protocol text differs from ours (Flume's
carries a ``doc``, so its MD5 differs) is the normal case: its text is parsed
and its message schemas are resolved against ours.
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import expand_schema, to_parsing_canonical_form

__all__ = ["Protocol", "ProtocolError", "UnknownMessageError", "RemoteError", "ServerSession", "ClientSession", "Call",
           "AVRO_SOURCE_PROTOCOL", "SPARK_FLUME_PROTOCOL", "HANDSHAKE_REQUEST", "HANDSHAKE_RESPONSE",
           "read_long", "encode_long", "encode_string"]


class ProtocolError(ValueError):
    """The peer sent something that is not a valid call or response of the protocol."""


class UnknownMessageError(ProtocolError):
    """A call of a message the protocol does not have; ``handshake`` is what
    the response (a system error) must start with."""

    def __init__(self, message: str, handshake: bytes) -> None:
        super().__init__(message)
        self.handshake = handshake


class RemoteError(RuntimeError):
    """The peer answered a call with an Avro error (``message`` is its text)."""


_MD5 = {"type": "fixed", "name": "MD5", "size": 16}
_META = ["null", {"type": "map", "values": "bytes"}]
HANDSHAKE_REQUEST = parse_schema({
    "type": "record", "name": "HandshakeRequest", "namespace": "org.apache.avro.ipc",
    "fields": [{"name": "clientHash", "type": _MD5}, {"name": "clientProtocol", "type": ["null", "string"]},
               {"name": "serverHash", "type": "MD5"}, {"name": "meta", "type": _META}]})
HANDSHAKE_RESPONSE = parse_schema({
    "type": "record", "name": "HandshakeResponse", "namespace": "org.apache.avro.ipc",
    "fields": [{"name": "match", "type": {"type": "enum", "name": "HandshakeMatch",
                                          "symbols": ["BOTH", "CLIENT", "NONE"]}},
               {"name": "serverProtocol", "type": ["null", "string"]},
               {"name": "serverHash", "type": ["null", _MD5]}, {"name": "meta", "type": _META}]})

_EVENT_FIELDS = [{"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}]

AVRO_SOURCE_PROTOCOL: dict[str, Any] = {
    "protocol": "AvroSourceProtocol", "namespace": "org.apache.flume.source.avro",
    "types": [{"type": "enum", "name": "Status", "symbols": ["OK", "FAILED", "UNKNOWN"]},
              {"type": "record", "name": "AvroFlumeEvent", "fields": _EVENT_FIELDS}],
    "messages": {"append": {"request": [{"name": "event", "type": "AvroFlumeEvent"}], "response": "Status"},
                 "appendBatch": {"request": [{"name": "events",
                                              "type": {"type": "array", "items": "AvroFlumeEvent"}}],
                                 "response": "Status"}}}
"""Flume's ``flume.avdl`` without its licence ``doc``; as compact JSON its MD5
is ``30da54059df72d9584b867d5202e2069``, as Java renders it."""

SPARK_FLUME_PROTOCOL: dict[str, Any] = {
    "protocol": "SparkFlumeProtocol", "namespace": "org.apache.spark.streaming.flume.sink",
    "types": [{"type": "record", "name": "SparkSinkEvent", "fields": _EVENT_FIELDS},
              {"type": "record", "name": "EventBatch",
               "fields": [{"name": "errorMsg", "type": "string", "default": ""},
                          {"name": "sequenceNumber", "type": "string"},
                          {"name": "events", "type": {"type": "array", "items": "SparkSinkEvent"}}]}],
    "messages": {"getEventBatch": {"request": [{"name": "n", "type": "int"}], "response": "EventBatch"},
                 "ack": {"request": [{"name": "sequenceNumber", "type": "string"}], "response": "null"},
                 "nack": {"request": [{"name": "sequenceNumber", "type": "string"}], "response": "null"}}}
"""Spark's ``sparkflume.avdl`` (the sink side of ``createPollingStream``)."""


# -- primitive encodings (hot paths; fastavro does the datums) ---------------
def encode_long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return encode_long(len(b)) + b


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """Zig-zag varint at ``pos``: (value, next position)."""
    n = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtocolError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise ProtocolError(f"varint longer than 10 bytes ending at byte {pos}")


def _read_bytes(buf: bytes, pos: int, what: str) -> tuple[bytes, int]:
    n, pos = read_long(buf, pos)
    if n < 0 or pos + n > len(buf):
        raise ProtocolError(f"{what} of {n} bytes at byte {pos} does not fit in the {len(buf)}-byte message")
    return buf[pos:pos + n], pos + n


def _skip_meta(buf: bytes, pos: int) -> int:
    """Skip a ``map<bytes>`` (call metadata)."""
    while True:
        count, pos = read_long(buf, pos)
        if count == 0:
            return pos
        if count < 0:
            count = -count
            _, pos = read_long(buf, pos)
        for _ in range(count):
            _, pos = _read_bytes(buf, pos, "a metadata key")
            _, pos = _read_bytes(buf, pos, "a metadata value")


# -- protocols ----------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    name: str
    request: Any          # parsed record schema of the parameters
    response: Any         # parsed schema, wrapped in a one-field record {"r": ...}
    errors: Any           # parsed union schema, "string" first
    request_form: str
    response_form: str


class Protocol:
    """A parsed Avro protocol: its text (compact JSON), MD5 and messages."""

    def __init__(self, obj: dict[str, Any], text: str | None = None) -> None:
        if not isinstance(obj, dict) or not isinstance(obj.get("protocol"), str):
            raise ProtocolError("a protocol is a JSON object with a \"protocol\" name")
        self.name: str = obj["protocol"]
        self.namespace: str = obj.get("namespace") or ""
        self.text = text if text is not None else json.dumps(obj, separators=(",", ":"))
        self.hash = hashlib.md5(self.text.encode("utf-8")).digest()
        named: dict[str, Any] = {}
        ns = self.namespace
        try:
            for t in obj.get("types", []):
                t = dict(t)
                if ns and "namespace" not in t and "." not in t.get("name", ""):
                    t["namespace"] = ns
                parse_schema(t, named_schemas=named)
            self.messages: dict[str, Message] = {}
            for name, m in (obj.get("messages") or {}).items():
                req = parse_schema({"type": "record", "name": f"{name}__request", "namespace": ns,
                                    "fields": m.get("request", [])}, named_schemas=named)
                resp = parse_schema({"type": "record", "name": f"{name}__response", "namespace": ns,
                                     "fields": [{"name": "r", "type": m.get("response", "null")}]},
                                    named_schemas=named)
                err_types = [e for e in (m.get("errors") or []) if e != "string"]
                errs = parse_schema({"type": "record", "name": f"{name}__errors", "namespace": ns,
                                     "fields": [{"name": "e", "type": ["string", *err_types]}]},
                                    named_schemas=named)
                self.messages[name] = Message(name, req, resp, errs, _layout(req), _layout(resp))
        except ProtocolError:
            raise
        except Exception as exc:  # noqa: BLE001 - fastavro raises several types for a bad schema
            raise ProtocolError(f"protocol {self.name!r} does not parse: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def from_text(cls, text: str) -> "Protocol":
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(f"the peer's protocol text is not JSON: {exc}") from exc
        return cls(obj, text)


def _layout(schema: Any) -> str:
    """Parsing canonical form with named types written out: equal for two
    schemas exactly when their binary encodings are laid out the same."""
    return to_parsing_canonical_form(expand_schema(schema))


def _read(schema: Any, buf: bytes, pos: int, reader_schema: Any = None) -> tuple[Any, int]:
    bio = io.BytesIO(buf)
    bio.seek(pos)
    value = schemaless_reader(bio, schema, reader_schema)
    return value, bio.tell()


def _write(schema: Any, datum: Any) -> bytes:
    bio = io.BytesIO()
    schemaless_writer(bio, schema, datum)
    return bio.getvalue()


_EMPTY_META = b"\x00"
_NO_ERROR = b"\x00"


@dataclass
class Call:
    """One decoded request: the message, its parameters (a dict), and the
    handshake bytes its response must start with (empty once established).
    For a message the session leaves undecoded (``raw_messages``), ``params``
    is None and ``raw`` holds the parameters' bytes, in our schema's layout."""

    name: str
    params: dict[str, Any] | None
    handshake: bytes
    message: Message
    raw: bytes | None = None


class ServerSession:
    """Server side of one connection. ``protocols`` is the server-wide cache
    of client protocols by hash (shared by connections, as in Java).
    ``raw_messages``: messages whose parameters are not decoded here when the
    client's request schema has the same parsing canonical form as ours (so
    the same bytes layout); their :class:`Call` carries the bytes in ``raw``."""

    def __init__(self, local: Protocol, protocols: dict[bytes, Protocol], lock: threading.Lock,
                 raw_messages: frozenset[str] = frozenset()) -> None:
        self.local = local
        self.protocols = protocols
        self._lock = lock
        self.raw_messages = raw_messages
        self.established = False
        self.remote: Protocol | None = None

    def read_request(self, payload: bytes) -> Call | bytes:
        """Decode one request: a :class:`Call`, or the bytes to answer with
        when the request ends at the handshake (match ``NONE``, or a ping)."""
        pos = 0
        handshake = b""
        if not self.established:
            handshake, pos = self._handshake(payload)
            if self.remote is None:
                return handshake
        pos = _skip_meta(payload, pos)
        raw_name, pos = _read_bytes(payload, pos, "the message name")
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"the message name {raw_name[:40]!r} is not UTF-8") from exc
        if name == "":
            return handshake     # a ping: the handshake alone answers it
        remote = self.remote
        assert remote is not None
        ours = self.local.messages.get(name)
        theirs = remote.messages.get(name)
        if ours is None or theirs is None:
            raise UnknownMessageError(f"unknown message {name[:100]!r} (protocol {self.local.name} has "
                                      f"{', '.join(sorted(self.local.messages))})", handshake)
        if name in self.raw_messages and theirs.request_form == ours.request_form:
            return Call(name, None, handshake, ours, payload[pos:])   # same layout: the caller decodes
        try:
            if theirs.request_form == ours.request_form:
                params, end = _read(ours.request, payload, pos)
            else:
                params, end = _read(theirs.request, payload, pos, ours.request)
        except Exception as exc:  # noqa: BLE001 - fastavro raises EOFError, ValueError, ... on bad bytes
            raise ProtocolError(f"the parameters of {name!r} do not decode: {type(exc).__name__}: {exc}") from exc
        if end != len(payload):
            raise ProtocolError(f"{len(payload) - end} bytes left over after the parameters of {name!r}")
        return Call(name, params, handshake, ours)

    def _handshake(self, payload: bytes) -> tuple[bytes, int]:
        try:
            hreq, pos = _read(HANDSHAKE_REQUEST, payload, 0)
        except Exception as exc:  # noqa: BLE001 - any decoding failure: not a handshake
            raise ProtocolError(f"the first request of the connection is not an Avro handshake: "
                                f"{type(exc).__name__}: {exc}") from exc
        client_hash = hreq["clientHash"]
        with self._lock:
            remote = self.protocols.get(client_hash)
        if remote is None and hreq["clientProtocol"] is not None:
            remote = Protocol.from_text(hreq["clientProtocol"])
            with self._lock:
                self.protocols[client_hash] = remote
        if hreq["serverHash"] == self.local.hash:
            match = "BOTH" if remote is not None else "NONE"
        else:
            match = "CLIENT" if remote is not None else "NONE"
        both = match == "BOTH"
        response = _write(HANDSHAKE_RESPONSE, {
            "match": match, "serverProtocol": None if both else self.local.text,
            "serverHash": None if both else self.local.hash, "meta": None})
        if remote is not None:
            self.established = True
            self.remote = remote
        return response, pos

    @staticmethod
    def response(call: Call, value: bytes) -> bytes:
        """The response to ``call`` whose encoded value is ``value``."""
        return call.handshake + _EMPTY_META + _NO_ERROR + value

    @staticmethod
    def error_response(handshake: bytes, text: str) -> bytes:
        """A system error (union index 0: string)."""
        return handshake + _EMPTY_META + b"\x01" + b"\x00" + encode_string(text)


class ClientSession:
    """Client side of one connection (see module docstring)."""

    def __init__(self, local: Protocol) -> None:
        self.local = local
        self.established = False
        self.remote: Protocol | None = None
        self.remote_hash: bytes | None = None
        self._serial = 0

    def next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0x7FFFFFFF
        return self._serial

    def request(self, name: str, params: dict[str, Any], with_text: bool = False) -> bytes:
        out = []
        if not self.established:
            out.append(_write(HANDSHAKE_REQUEST, {
                "clientHash": self.local.hash, "clientProtocol": self.local.text if with_text else None,
                "serverHash": self.remote_hash or self.local.hash, "meta": {}}))
        out.append(_EMPTY_META)
        out.append(encode_string(name))
        out.append(_write(self.local.messages[name].request, params))
        return b"".join(out)

    def read_response(self, name: str, payload: bytes) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, None)`` when the server answered
        ``NONE`` and the call must be sent again with the protocol text.
        Raises :class:`RemoteError` for an error response."""
        pos = 0
        try:
            if not self.established:
                hres, pos = _read(HANDSHAKE_RESPONSE, payload, 0)
                match = hres["match"]
                if hres["serverProtocol"] is not None:
                    self.remote = Protocol.from_text(hres["serverProtocol"])
                    self.remote_hash = hres["serverHash"]
                if match == "NONE":
                    return False, None
                if self.remote is None:
                    self.remote = self.local
                    self.remote_hash = self.local.hash
                self.established = True
            pos = _skip_meta(payload, pos)
            if pos >= len(payload):
                raise ProtocolError(f"the response to {name!r} ends before its error flag")
            is_error = payload[pos] == 1
            pos += 1
            ours = self.local.messages[name]
            theirs = (self.remote or self.local).messages.get(name, ours)
            if is_error:
                err, _ = _read(theirs.errors, payload, pos)
                raise RemoteError(str(err["e"]))
            if theirs.response_form == ours.response_form:
                value, end = _read(ours.response, payload, pos)
            else:
                value, end = _read(theirs.response, payload, pos, ours.response)
        except (ProtocolError, RemoteError):
            raise
        except Exception as exc:  # noqa: BLE001 - fastavro's decoding errors
            raise ProtocolError(f"the response to {name!r} does not decode: {type(exc).__name__}: {exc}") from exc
        if end != len(payload):
            raise ProtocolError(f"{len(payload) - end} bytes left over after the response to {name!r}")
        return True, value["r"]
