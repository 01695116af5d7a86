"""Flume's ``ThriftSourceProtocol`` on the wire, for the Thrift receiver
(:mod:`fluvial.streaming.flume.thrift`): the IDL, decoding one call from a
frame's payload with checks that bound the work a frame can cause, and
encoding replies. thriftpy2 does the encodings (compact or binary
protocol); this module restates the IDL and adds the checks.

:func:`decode_call` raises :class:`ThriftInputError` naming what was wrong
and the frame's byte offset; nothing is decoded from a frame whose container
headers claim more elements than its bytes can hold, or elements of no bytes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable

import thriftpy2
from thriftpy2.protocol.binary import TBinaryProtocol
from thriftpy2.protocol.compact import TCompactProtocol
from thriftpy2.thrift import TApplicationException, TMessageType, TType

__all__ = ["FLUME_THRIFT_IDL", "PROTOCOLS", "Status", "ThriftCall", "ThriftInputError", "decode_call", "encode_reply",
           "encode_exception"]

FLUME_THRIFT_IDL = """
struct ThriftFlumeEvent {
  1: required map<string, string> headers,
  2: required binary body,
}
enum Status { OK, FAILED, ERROR, UNKNOWN }
service ThriftSourceProtocol {
  Status append(1: ThriftFlumeEvent event),
  Status appendBatch(1: list<ThriftFlumeEvent> events),
}
"""
"""Flume's ``flume-ng-sdk/src/main/thrift/flume.thrift``, restated (same field ids, types and enum values)."""

flume_thrift = thriftpy2.load_fp(io.StringIO(FLUME_THRIFT_IDL), "fluvial_flume_thrift")
Status = flume_thrift.Status
_SERVICE = flume_thrift.ThriftSourceProtocol
_METHODS = {"append": (_SERVICE.append_args, _SERVICE.append_result),
            "appendBatch": (_SERVICE.appendBatch_args, _SERVICE.appendBatch_result)}
PROTOCOLS = ("compact", "binary")


class ThriftInputError(ValueError):
    """Bytes from a client that are not a valid ThriftSourceProtocol call."""


@dataclass(frozen=True)
class ThriftCall:
    """A decoded call: method name, sequence id, events as (headers, body bytes)."""

    method: str
    seqid: int
    events: list[tuple[dict[str, str], bytes]]


class _FrameReader:
    """A thriftpy2 transport over one frame whose ``read`` never returns short."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._size = len(self._data)
        self.pos = 0

    def read(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if n < 0 or end > self._size:
            raise ThriftInputError(f"negative length {n}" if n < 0 else
                                   f"{n} bytes needed but only {self._size - pos} left in the frame")
        self.pos = end
        return self._data[pos:end]

    @property
    def left(self) -> int:
        return self._size - self.pos


class _CheckedCompact(TCompactProtocol):
    """thriftpy2's compact protocol, refusing container headers that claim more
    elements than bytes left in the frame or elements of the STOP type (which
    take no bytes): skipping those would loop up to 2**64 times on nothing."""

    def _claim(self, size: int, *types: int) -> None:
        if TType.STOP in types:
            raise ThriftInputError(f"container of {size} elements of type STOP")
        left = getattr(self.trans, "left", None)
        if left is not None and size > left + 1:   # every element takes a byte (a bool field's value at most once not)
            raise ThriftInputError(f"container claims {size} elements but only {left} bytes are left in the frame")

    def _read_collection_begin(self) -> tuple:
        etype, size = super()._read_collection_begin()
        self._claim(size, etype)
        return etype, size

    def _read_map_begin(self) -> tuple:
        ktype, vtype, size = super()._read_map_begin()
        if size:
            self._claim(size, ktype, vtype)
        return ktype, vtype, size


_BINARY_SIZES = {TType.BOOL: 1, TType.BYTE: 1, TType.I16: 2, TType.I32: 4, TType.I64: 8, TType.DOUBLE: 8}
_MAX_DEPTH = 64


def _check_binary(r: _FrameReader, ttype: int, depth: int = 0) -> None:
    """Walk one binary-protocol value, refusing unknown type ids, negative
    sizes, containers claiming more elements than bytes left and nesting
    deeper than 64, before thriftpy2 decodes it (its skipping of unknown
    types would otherwise loop on elements that take no bytes)."""
    if depth > _MAX_DEPTH:
        raise ThriftInputError(f"values nested deeper than {_MAX_DEPTH}")
    fixed = _BINARY_SIZES.get(ttype)
    if fixed is not None:
        r.read(fixed)
    elif ttype == TType.STRING:
        r.read(int.from_bytes(r.read(4), "big", signed=True))
    elif ttype == TType.STRUCT:
        while (ftype := r.read(1)[0]) != TType.STOP:
            r.read(2)
            _check_binary(r, ftype, depth + 1)
    elif ttype in (TType.LIST, TType.SET, TType.MAP):
        types = r.read(2 if ttype == TType.MAP else 1)
        size = int.from_bytes(r.read(4), "big", signed=True)
        if not 0 <= size <= r.left:
            raise ThriftInputError(f"container claims {size} elements with {r.left} bytes left in the frame")
        for _ in range(size):
            for t in types:
                _check_binary(r, t, depth + 1)
    else:
        raise ThriftInputError(f"unknown type id {ttype} at byte {r.pos - 1}")


def _protocol(name: str, trans: Any) -> Any:
    if name == "compact":
        return _CheckedCompact(trans, decode_response=False)
    return TBinaryProtocol(trans, strict_read=False, strict_write=True, decode_response=False)


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)


def decode_call(frame: bytes, protocol: str = "compact") -> ThriftCall:
    """Decode one message (a frame's payload, without its length) as a
    ``ThriftSourceProtocol`` call. Raises :class:`ThriftInputError` naming what
    was wrong and the byte offset where decoding stopped; an unknown method
    raises it with ``.method`` and ``.seqid`` set, so that it can be answered."""
    reader = _FrameReader(frame)
    proto = _protocol(protocol, reader)
    try:
        name_raw, mtype, seqid = proto.read_message_begin()
    except Exception as exc:  # noqa: BLE001 - any failure of the library on garbage is bad input
        raise ThriftInputError(f"not a {protocol} Thrift message (decoding stopped at byte {reader.pos} of "
                               f"{len(frame)}: {type(exc).__name__}: {exc}; first bytes {frame[:16].hex()})") from exc
    method = _text(name_raw)
    if mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
        raise ThriftInputError(f"message {method!r} has type {mtype}, not a call")
    if method not in _METHODS:
        err = ThriftInputError(f"unknown method {method!r} (ThriftSourceProtocol has append and appendBatch)")
        err.method, err.seqid = method, seqid  # type: ignore[attr-defined]
        raise err
    args = _METHODS[method][0]()
    try:
        if protocol == "binary":
            start = reader.pos
            _check_binary(reader, TType.STRUCT)
            reader.pos = start
        proto.read_struct(args)
    except Exception as exc:  # noqa: BLE001 - as above
        raise ThriftInputError(f"malformed {method} arguments at byte {reader.pos} of {len(frame)}: "
                               f"{type(exc).__name__}: {exc}") from exc
    if reader.left:
        raise ThriftInputError(f"{reader.left} bytes left over after the {method} message of {len(frame)} bytes")
    raw_events = args.events if method == "appendBatch" else (None if args.event is None else [args.event])
    if raw_events is None:
        raise ThriftInputError(f"{method} call without its argument (field 1)")
    events = []
    for i, ev in enumerate(raw_events):
        if ev is None or ev.headers is None or ev.body is None:
            missing = "event" if ev is None else ("headers (field 1)" if ev.headers is None else "body (field 2)")
            raise ThriftInputError(f"{method} event {i} has no {missing}")
        events.append(({_text(k): _text(v) for k, v in ev.headers.items()}, bytes(ev.body)))
    return ThriftCall(method, seqid, events)


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b

    def flush(self) -> None:
        pass


def _framed(write: Callable[[Any], None], protocol: str) -> bytes:
    buf = _Buffer()
    write(_protocol(protocol, buf))
    return len(buf.data).to_bytes(4, "big") + bytes(buf.data)


def encode_reply(method: str, seqid: int, status: int, protocol: str = "compact") -> bytes:
    """The framed reply to ``method`` carrying ``status`` (a :data:`Status` value)."""
    def write(proto: Any) -> None:
        proto.write_message_begin(method, TMessageType.REPLY, seqid)
        proto.write_struct(_METHODS[method][1](success=status))
        proto.write_message_end()
    return _framed(write, protocol)


def encode_exception(method: str, seqid: int, message: str, protocol: str = "compact",
                     kind: int = TApplicationException.UNKNOWN_METHOD) -> bytes:
    """A framed ``TApplicationException`` reply (what Thrift servers send for an unknown method)."""
    def write(proto: Any) -> None:
        proto.write_message_begin(method, TMessageType.EXCEPTION, seqid)
        proto.write_struct(TApplicationException(kind, message))
        proto.write_message_end()
    return _framed(write, protocol)
