"""ThriftSourceProtocol encodings without sockets: byte vectors built here from
the Thrift compact and binary specifications (varints, zigzag field ids,
type nibbles, i32 lengths), decoded by ``decode_call``; replies compared with
vectors built the same way; random calls written by Apache ``thrift``'s own
protocols (through flumehandler's generated stubs) decode to what was sent."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.transport.TTransport import TMemoryBuffer

from flumehandler.thrift_protocol import Client
from flumehandler.thrift_ttypes import ThriftFlumeEvent
from fluvial.streaming.flume.thrift_wire import Status, ThriftInputError, decode_call, encode_exception, encode_reply

# -- compact protocol facts ---------------------------------------------------
# message: 0x82 protocol id; (type << 5) | version 1; seqid varint; name (varint length + bytes)
# field header: (id delta << 4) | type; types: i32 5, binary 8, list 9, map 11, struct 12; stop 0
# list header: (size << 4) | element type (size < 15) else 0xF | type, then varint size
# map header: varint size, then (key type << 4) | value type (absent when the map is empty)
CALL, REPLY, EXCEPTION, ONEWAY = 1, 2, 3, 4


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def cstr(b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return varint(len(b)) + b


def c_message(mtype: int, seqid: int, name: str) -> bytes:
    return bytes([0x82, (mtype << 5) | 1]) + varint(seqid) + cstr(name)


def c_event(headers: dict, body: bytes) -> bytes:
    """A ThriftFlumeEvent struct: field 1 map<string,string> (delta 1, type 11), field 2 binary (delta 1, type 8)."""
    m = varint(len(headers)) + (bytes([0x88]) if headers else b"")
    for k, v in headers.items():
        m += cstr(k) + cstr(v)
    return bytes([0x1B]) + m + bytes([0x18]) + cstr(body) + b"\x00"


def c_list_header(n: int) -> bytes:
    return bytes([(n << 4) | 0x0C]) if n < 15 else bytes([0xFC]) + varint(n)


def c_append_batch(seqid: int, events: list) -> bytes:
    return (c_message(CALL, seqid, "appendBatch") + bytes([0x19]) + c_list_header(len(events))
            + b"".join(c_event(h, b) for h, b in events) + b"\x00")


def c_append(seqid: int, headers: dict, body: bytes) -> bytes:
    return c_message(CALL, seqid, "append") + bytes([0x1C]) + c_event(headers, body) + b"\x00"


# -- binary protocol facts ----------------------------------------------------
# strict message: i32 0x80010000 | type, name (i32 length + bytes), i32 seqid
# old (non-strict) message: name (i32 length + bytes), i8 type, i32 seqid
# field header: i8 type (i32 8, string 11, struct 12, map 13, list 15), i16 id; stop 0
def bstr(b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">i", len(b)) + b


def b_event(headers: dict, body: bytes) -> bytes:
    m = b"\x0d\x00\x01\x0b\x0b" + struct.pack(">i", len(headers))
    for k, v in headers.items():
        m += bstr(k) + bstr(v)
    return m + b"\x0b\x00\x02" + bstr(body) + b"\x00"


def b_append(seqid: int, headers: dict, body: bytes, strict: bool = True) -> bytes:
    head = (struct.pack(">I", 0x80010000 | CALL) + bstr("append") if strict
            else bstr("append") + bytes([CALL]))
    return head + struct.pack(">i", seqid) + b"\x0c\x00\x01" + b_event(headers, body) + b"\x00"


def b_append_batch(seqid: int, events: list) -> bytes:
    return (struct.pack(">I", 0x80010000 | CALL) + bstr("appendBatch") + struct.pack(">i", seqid)
            + b"\x0f\x00\x01\x0c" + struct.pack(">i", len(events)) + b"".join(b_event(h, b) for h, b in events)
            + b"\x00")


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


# -- decoding calls -------------------------------------------------------------
def test_compact_append_batch_decodes_headers_bodies_and_seqid():
    data = c_append_batch(0, [({"k": "v"}, b"hello"), ({}, b"world")])
    # the 43 bytes flumehandler 0.1 sends for this batch (README section 1.3), re-derived above
    assert frame(data).hex() == ("0000002b8221000b617070656e6442617463681" "92c1b0188016b0176180568656c6c6f00"
                                 "1b001805776f726c640000")
    call = decode_call(data, "compact")
    assert (call.method, call.seqid) == ("appendBatch", 0)
    assert call.events == [({"k": "v"}, b"hello"), ({}, b"world")]


def test_compact_append_with_java_seqid_and_a_long_batch_uses_the_long_list_header():
    call = decode_call(c_append(1, {"src": "java"}, b"jthrift-0"), "compact")
    assert (call.method, call.seqid, call.events) == ("append", 1, [({"src": "java"}, b"jthrift-0")])
    events = [({"i": str(i)}, bytes([i]) * i) for i in range(20)]
    data = c_append_batch(300, events)                 # seqid 300 is a two-byte varint
    assert data[2:4] == b"\xac\x02" and b"\xfc\x14" in data
    assert decode_call(data, "compact").events == events


def test_binary_append_decodes_strict_and_old_style_messages():
    strict = b_append(1, {"src": "java"}, b"jthrift-0")
    assert len(strict) == 0x3F                          # Java libthrift 0.16's frame length (README section 1.3)
    for data in (strict, b_append(1, {"src": "java"}, b"jthrift-0", strict=False)):
        call = decode_call(data, "binary")
        assert (call.method, call.seqid, call.events) == ("append", 1, [({"src": "java"}, b"jthrift-0")])


def test_binary_append_batch_keeps_empty_batches_empty_bodies_and_raw_bytes():
    events = [({}, b""), ({"a": "1", "b": ""}, b"\xff\x00\xfe"), ({"\u00fc": "\u20ac"}, "caf\u00e9".encode())]
    assert decode_call(b_append_batch(7, events), "binary").events == events
    assert decode_call(b_append_batch(8, []), "binary").events == []
    assert decode_call(c_append_batch(9, []), "compact").events == []


def test_header_bytes_that_are_not_utf8_become_replacement_characters():
    data = c_append(0, {b"k\xff": b"v\xfe"}, b"x")     # as Java's String(bytes, UTF_8)
    assert decode_call(data, "compact").events == [({"k\ufffd": "v\ufffd"}, b"x")]


@pytest.mark.parametrize("data, protocol, expected", [
    (b"", "compact", "byte 0 of 0"),
    (b"GET / HTTP/1.1\r\n", "compact", "Bad protocol id"),
    (c_append(0, {}, b"x"), "binary", "not a binary Thrift message"),
    (b_append(0, {}, b"x"), "compact", "not a compact Thrift message"),
    (c_append_batch(0, [({}, b"abc")])[:-5], "compact", "malformed appendBatch arguments at byte"),
    (c_append_batch(0, [({}, b"abc")]) + b"\x00\x00", "compact", "2 bytes left over"),
    (c_message(REPLY, 0, "append") + b"\x00", "compact", "type 2, not a call"),
    (c_message(CALL, 0, "append") + b"\x00", "compact", "without its argument"),
    (c_message(CALL, 0, "append") + b"\x1c\x1b\x00\x00\x00", "compact", r"event 0 has no body \(field 2\)"),
    (c_message(CALL, 0, "append") + b"\x1c\x28" + cstr(b"x") + b"\x00\x00", "compact", r"no headers \(field 1\)"),
    # a list claiming 2**31 events in a 20-byte frame: the claim fails at the frame's end, nothing is allocated
    (c_message(CALL, 0, "appendBatch") + b"\x19\xfc" + varint(2 ** 31) + b"\x00", "compact", "left in the frame"),
    (struct.pack(">I", 0x80010001) + bstr("append") + struct.pack(">i", 0) + b"\x0c\x00\x01\x0d\x00\x01\x0b\x0b"
     + struct.pack(">i", -5), "binary", "malformed append arguments"),
])
def test_bad_messages_are_rejected_naming_what_was_wrong(data, protocol, expected):
    with pytest.raises(ThriftInputError, match=expected):
        decode_call(data, protocol)


BATCH_HEAD_B = struct.pack(">I", 0x80010000 | CALL) + bstr("appendBatch") + struct.pack(">i", 0)


@pytest.mark.parametrize("data, protocol, expected", [
    # an unknown field (id 5) holding a list of 2**31 - 1 elements of the invalid type 0xaf, which take no bytes
    (BATCH_HEAD_B + b"\x0f\x00\x05\xaf" + struct.pack(">i", 2 ** 31 - 1) + b"\x00", "binary", "claims 2147483647"),
    (BATCH_HEAD_B + b"\x0f\x00\x05\xaf" + struct.pack(">i", 3) + b"\x00" * 4, "binary", "unknown type id 175"),
    (BATCH_HEAD_B + b"\x0d\x00\x05\x00\x00" + struct.pack(">i", 2) + b"\x00" * 3, "binary", "unknown type id 0"),
    # compact: a list (field delta 5) of 2**62 STOP-type elements; a map of 2**40 STOP/STOP entries
    (c_message(CALL, 0, "appendBatch") + b"\x59\xf0" + varint(2 ** 62) + b"\x00", "compact", "type STOP"),
    (c_message(CALL, 0, "appendBatch") + b"\x5b" + varint(2 ** 40) + b"\x00\x00", "compact", "type STOP"),
    (c_message(CALL, 0, "appendBatch") + b"\x59\xfc" + varint(1000) + b"\x00" * 10, "compact", "claims 1000"),
])
def test_containers_of_empty_elements_are_refused_before_skipping_them(data, protocol, expected):
    with pytest.raises(ThriftInputError, match=expected):   # without the checks these loop up to 2**62 times
        decode_call(data, protocol)


def test_an_unknown_method_is_rejected_with_its_name_and_seqid_for_the_exception_reply():
    with pytest.raises(ThriftInputError, match="unknown method 'ping'") as info:
        decode_call(c_message(CALL, 5, "ping") + b"\x00", "compact")
    assert (info.value.method, info.value.seqid) == ("ping", 5)


# -- replies ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [Status.OK, Status.FAILED, Status.ERROR, Status.UNKNOWN])
def test_replies_carry_the_status_in_field_0(status):
    # compact: REPLY message, field 0 i32 in long form (type 5, then zigzag id 0), zigzag value, stop
    compact = c_message(REPLY, 3, "appendBatch") + b"\x05\x00" + varint(status * 2) + b"\x00"
    assert encode_reply("appendBatch", 3, status, "compact") == frame(compact)
    # binary (strict write): version word | REPLY, name, seqid, field i32 id 0, value, stop
    binary = (struct.pack(">I", 0x80010000 | REPLY) + bstr("append") + struct.pack(">i", 9)
              + b"\x08\x00\x00" + struct.pack(">i", status) + b"\x00")
    assert encode_reply("append", 9, status, "binary") == frame(binary)


def test_status_values_are_flumes():
    assert (Status.OK, Status.FAILED, Status.ERROR, Status.UNKNOWN) == (0, 1, 2, 3)


def test_an_unknown_method_reply_is_an_application_exception_a_thrift_client_reads():
    data = encode_exception("ping", 5, "unknown method 'ping'", "binary")
    assert data[:4] == struct.pack(">I", len(data) - 4)
    proto = TBinaryProtocol(TMemoryBuffer(data[4:]))
    assert proto.readMessageBegin() == ("ping", EXCEPTION, 5)
    from thrift.Thrift import TApplicationException
    exc = TApplicationException()
    exc.read(proto)
    assert (exc.type, exc.message) == (TApplicationException.UNKNOWN_METHOD, "unknown method 'ping'")


# -- Apache thrift writes, fluvial reads -----------------------------------------------
events_st = st.lists(st.tuples(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                               st.binary(max_size=40)), max_size=20)


@settings(max_examples=40, deadline=None)
@given(events=events_st, seqid=st.integers(0, 2 ** 31 - 1), protocol=st.sampled_from(["compact", "binary"]))
def test_calls_written_by_apache_thrift_decode_to_what_was_sent(events, seqid, protocol):
    buf = TMemoryBuffer()
    proto = TCompactProtocol(buf) if protocol == "compact" else TBinaryProtocol(buf)
    client = Client(proto)
    client._seqid = seqid
    client.send_appendBatch([ThriftFlumeEvent(headers=h, body=b) for h, b in events])
    call = decode_call(buf.getvalue(), protocol)
    assert (call.method, call.seqid, call.events) == ("appendBatch", seqid, events)


# -- any bytes: a call or ThriftInputError, nothing else ------------------------------
VALID = [c_append_batch(3, [({"k": "v"}, b"body"), ({}, b"")]), c_append(1, {"a": "b"}, b"x"),
         b_append_batch(2, [({"k": "v"}, b"body")]), b_append(1, {"src": "java"}, b"y", strict=False)]


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(VALID), edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 90), protocol=st.sampled_from(["compact", "binary"]))
def test_corrupted_and_truncated_calls_decode_or_raise_thrift_input_error_only(base, edits, cut, protocol):
    data = bytearray(base[:cut] if cut < len(base) else base)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    try:
        call = decode_call(bytes(data), protocol)
    except ThriftInputError:
        return
    assert call.method in ("append", "appendBatch")
    assert all(isinstance(h, dict) and isinstance(b, bytes) for h, b in call.events)
