"""A fast Flume AvroSink stand-in for bench/flume_bench.py: replays
pre-encoded ``appendBatch`` calls over Avro's Netty framing.

    python bench/flume_sender.py HOST PORT [--events 1000000] [--connections 4] [--batch 100] [--body 100]

Like Flume's AvroSink, each connection has one call outstanding: it sends an
``appendBatch`` and waits for its ``Status`` before the next one; a
``FAILED`` answer makes it send the same batch again (the sink's transaction
rollback). Each connection opens with an Avro handshake carrying the
protocol text (so any server resolves it in one round trip, ``BOTH`` or
``CLIENT``), then sends calls without one. The calls are encoded once with
fastavro (16 distinct batches: headers ``{seq, src}``, ``--body``-byte
bodies) and replayed with a fresh serial each, so the sender spends its time
on the socket, not on encoding. This code is independent of fluvial's: it is
the peer.

Prints one JSON line: ``{"events": answered OK, "calls": ..., "failed":
calls answered FAILED, "seconds": from the first send to the last answer,
"started_at": the first send's wall-clock time}``.
Exits with status 1 on a protocol error or an Avro error response.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import selectors
import socket
import struct
import sys
import time

from fastavro import parse_schema, schemaless_reader, schemaless_writer

PROTOCOL = ('{"protocol":"AvroSourceProtocol","namespace":"org.apache.flume.source.avro","types":[{"type":"enum",'
            '"name":"Status","symbols":["OK","FAILED","UNKNOWN"]},{"type":"record","name":"AvroFlumeEvent",'
            '"fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}],'
            '"messages":{"append":{"request":[{"name":"event","type":"AvroFlumeEvent"}],"response":"Status"},'
            '"appendBatch":{"request":[{"name":"events","type":{"type":"array","items":"AvroFlumeEvent"}}],'
            '"response":"Status"}}}')
_MD5 = {"type": "fixed", "name": "MD5", "size": 16}
_HS_REQUEST = parse_schema({"type": "record", "name": "HandshakeRequest", "namespace": "org.apache.avro.ipc", "fields": [
    {"name": "clientHash", "type": _MD5}, {"name": "clientProtocol", "type": ["null", "string"]},
    {"name": "serverHash", "type": "MD5"},
    {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]}]})
_HS_RESPONSE = parse_schema({"type": "record", "name": "HandshakeResponse", "namespace": "org.apache.avro.ipc",
                             "fields": [
    {"name": "match", "type": {"type": "enum", "name": "HandshakeMatch", "symbols": ["BOTH", "CLIENT", "NONE"]}},
    {"name": "serverProtocol", "type": ["null", "string"]},
    {"name": "serverHash", "type": ["null", _MD5]},
    {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]}]})
_EVENTS = parse_schema({"type": "array", "items": {"type": "record", "name": "AvroFlumeEvent", "fields": [
    {"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}]}})
_HEAD = struct.Struct(">ii")
_CALL_PREFIX = b"\x00\x16appendBatch"      # empty call meta, message name
_DISTINCT = 16


def _encode(schema: object, datum: object) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, datum)
    return out.getvalue()


def encode_batches(batch: int, body: int) -> list[bytes]:
    """The request payloads (call meta, name, events) of ``_DISTINCT`` batches."""
    out = []
    for b in range(_DISTINCT):
        events = []
        for i in range(b * batch, (b + 1) * batch):
            tag = str(i).encode()
            events.append({"headers": {"seq": str(i), "src": "bench"},
                           "body": (tag + b"x" * body)[:body] if body >= len(tag) else tag[:body]})
        out.append(_CALL_PREFIX + _encode(_EVENTS, events))
    return out


def _frame(serial: int, payload: bytes) -> bytes:
    return _HEAD.pack(serial, 1) + struct.pack(">i", len(payload)) + payload


class _Conn:
    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.buf = bytearray()
        self.serial = 0
        self.established = False
        self.batch = index % _DISTINCT
        self.events = 0


def _take_frame(buf: bytearray) -> tuple[int, bytes] | None:
    """One whole pack from ``buf`` (removed from it), or None."""
    if len(buf) < 8:
        return None
    serial, count = _HEAD.unpack_from(buf)
    pos, parts = 8, []
    for _ in range(count):
        if len(buf) < pos + 4:
            return None
        (n,) = struct.unpack_from(">i", buf, pos)
        if len(buf) < pos + 4 + n:
            return None
        parts.append(bytes(buf[pos + 4:pos + 4 + n]))
        pos += 4 + n
    del buf[:pos]
    return serial, b"".join(parts)


def _status(conn: _Conn, payload: bytes) -> int:
    """Status index of a response (0 OK, 1 FAILED); reads the handshake once."""
    bio = io.BytesIO(payload)
    if not conn.established:
        hs = schemaless_reader(bio, _HS_RESPONSE, None)
        if hs["match"] == "NONE":
            raise SystemExit(f"connection {conn.index}: the server answered the handshake NONE")
        conn.established = True
    rest = payload[bio.tell():]
    if rest[:1] != b"\x00":
        raise SystemExit(f"connection {conn.index}: a response with call metadata is not expected: {rest[:40]!r}")
    if rest[1:2] != b"\x00":
        raise SystemExit(f"connection {conn.index}: the server answered with an error: {rest[2:200]!r}")
    return rest[2] >> 1


def send(host: str, port: int, events: int, connections: int, batch: int, body: int) -> dict:
    """Send ``events`` (rounded down to whole batches) over ``connections``."""
    payloads = encode_batches(batch, body)
    proto_hash = hashlib.md5(PROTOCOL.encode()).digest()
    handshake = _encode(_HS_REQUEST, {"clientHash": proto_hash, "clientProtocol": PROTOCOL,
                                      "serverHash": proto_hash, "meta": None})
    calls_left = events // batch
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(min(connections, max(calls_left, 1))):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(_Conn(sock, i))
    calls = failed = 0
    started_at = time.time()
    start = time.perf_counter()
    active = 0
    for c in conns:
        if calls_left:
            calls_left -= 1
            c.serial += 1
            c.sock.sendall(_frame(c.serial, handshake + payloads[c.batch]))
            sel.register(c.sock, selectors.EVENT_READ, c)
            active += 1
    while active:
        for key, _ in sel.select():
            c = key.data
            data = c.sock.recv(1 << 16)
            if not data:
                raise SystemExit(f"connection {c.index}: the server closed the connection")
            c.buf += data
            while (frame := _take_frame(c.buf)) is not None:
                serial, payload = frame
                if serial != c.serial:
                    raise SystemExit(f"connection {c.index}: response serial {serial}, expected {c.serial}")
                calls += 1
                if _status(c, payload) == 0:
                    c.events += batch
                    c.batch = (c.batch + 1) % _DISTINCT
                    if not calls_left:
                        sel.unregister(c.sock)
                        active -= 1
                        continue
                    calls_left -= 1
                else:
                    failed += 1      # send the same batch again, as a sink rolling back
                c.serial = (c.serial + 1) & 0x7FFFFFFF
                c.sock.sendall(_frame(c.serial, payloads[c.batch]))
    seconds = time.perf_counter() - start
    for c in conns:
        c.sock.close()
    return {"events": sum(c.events for c in conns), "calls": calls, "failed": failed, "seconds": seconds,
            "started_at": started_at}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--body", type=int, default=100)
    args = ap.parse_args()
    print(json.dumps(send(args.host, args.port, args.events, args.connections, args.batch, args.body)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
