"""Avro IPC bytes restated from the protocol facts (Avro spec "Protocol Wire
Format", Avro's NettyTransportCodec, Flume's flume.avdl), for the tests."""
from __future__ import annotations

import hashlib
import json
import struct

def zz(n: int) -> bytes:
    """Avro long: zig-zag varint."""
    n = (n << 1) ^ (n >> 63)
    out = b""
    while n > 0x7F:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def s(text: str) -> bytes:
    b = text.encode()
    return zz(len(b)) + b


def avro_map(d: dict[str, str]) -> bytes:
    if not d:
        return b"\x00"
    return zz(len(d)) + b"".join(s(k) + s(v) for k, v in d.items()) + b"\x00"


def event(headers: dict[str, str], body: bytes) -> bytes:
    return avro_map(headers) + zz(len(body)) + body


def pack(serial: int, *buffers: bytes) -> bytes:
    return struct.pack(">ii", serial, len(buffers)) + b"".join(struct.pack(">i", len(b)) + b for b in buffers)


# Flume's IDL as Java renders it without the licence doc (compact JSON); with
# the doc the text, hence the MD5, differs: the normal case for a real client.
FLUME_TEXT = ('{"protocol":"AvroSourceProtocol","namespace":"org.apache.flume.source.avro","types":['
              '{"type":"enum","name":"Status","symbols":["OK","FAILED","UNKNOWN"]},{"type":"record","name":'
              '"AvroFlumeEvent","fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":'
              '"body","type":"bytes"}]}],"messages":{"append":{"request":[{"name":"event","type":'
              '"AvroFlumeEvent"}],"response":"Status"},"appendBatch":{"request":[{"name":"events","type":'
              '{"type":"array","items":"AvroFlumeEvent"}}],"response":"Status"}}}')
FLUME_HASH = hashlib.md5(FLUME_TEXT.encode()).digest()
DOC_TEXT = json.dumps({"protocol": "AvroSourceProtocol", "namespace": "org.apache.flume.source.avro",
                       "doc": "Licensed to the Apache Software Foundation (ASF) ...",
                       **{k: v for k, v in json.loads(FLUME_TEXT).items() if k not in ("protocol", "namespace")}},
                      indent=2)
DOC_HASH = hashlib.md5(DOC_TEXT.encode()).digest()


def handshake_request(client_hash: bytes, text: str | None, server_hash: bytes) -> bytes:
    proto = b"\x00" if text is None else b"\x02" + s(text)
    return client_hash + proto + server_hash + b"\x02\x00"   # meta: union[1], empty map


def call(name: str, params: bytes) -> bytes:
    return b"\x00" + s(name) + params                      # empty call meta, name, params


HS_BOTH = b"\x00" + b"\x00" + b"\x00" + b"\x00"           # match BOTH, no protocol, no hash, no meta
OK = b"\x00\x00\x00"                                       # meta {}, no error, Status index 0
FAILED = b"\x00\x00\x02"                                   # Status index 1


def hs_with_server(match: int, text: str, md5: bytes) -> bytes:
    return zz(match) + b"\x02" + s(text) + b"\x02" + md5 + b"\x00"
