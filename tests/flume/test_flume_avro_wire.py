"""Avro Netty framing and the stateful IPC handshake, from byte vectors the
tests derive from the protocol facts (Avro spec "Protocol Wire Format",
Avro's NettyTransportCodec, Flume's flume.avdl, Spark's sparkflume.avdl)."""
from __future__ import annotations

import json
import struct
import threading
import zlib

import pytest

from fluvial.streaming.flume.ipc import (AVRO_SOURCE_PROTOCOL, SPARK_FLUME_PROTOCOL, Call, ClientSession, Protocol,
                                         ProtocolError, RemoteError, ServerSession)
from fluvial.streaming.flume.netty import Deflater, FrameLimits, FramingError, Inflater, PackReader, encode_pack

from avro_bytes import (DOC_HASH, DOC_TEXT, FAILED, FLUME_HASH, FLUME_TEXT, HS_BOTH, OK, call, event,
                        handshake_request, hs_with_server, pack, s, zz)


def server() -> ServerSession:
    local = Protocol(AVRO_SOURCE_PROTOCOL)
    return ServerSession(local, {local.hash: local}, threading.Lock())


# -- protocol text and hash -------------------------------------------------------
def test_our_protocol_text_is_javas_compact_json_with_its_md5():
    p = Protocol(AVRO_SOURCE_PROTOCOL)
    assert p.text == FLUME_TEXT
    assert p.hash.hex() == "30da54059df72d9584b867d5202e2069"


# -- framing ----------------------------------------------------------------------
def test_pack_layout_is_serial_count_then_length_prefixed_buffers():
    assert encode_pack(7, [b"ab", b"", b"c"]) == (b"\x00\x00\x00\x07" b"\x00\x00\x00\x03" b"\x00\x00\x00\x02ab"
                                                  b"\x00\x00\x00\x00" b"\x00\x00\x00\x01c")


def test_pack_split_across_reads_at_every_byte_gives_the_same_packs():
    stream = pack(1, b"hello", b"", b"world") + pack(2) + pack(3, b"x" * 300)
    expected = [(1, b"helloworld"), (2, b""), (3, b"x" * 300)]
    for cut in range(len(stream) + 1):
        r = PackReader()
        got = r.feed(stream[:cut]) + r.feed(stream[cut:])
        assert got == expected, cut
    r = PackReader()
    got = [p for i in range(len(stream)) for p in r.feed(stream[i:i + 1])]
    assert got == expected and r.buffered == 0


def test_zero_length_buffers_and_buffer_boundaries_carry_no_meaning():
    body = call("append", event({"seq": "0"}, b"event-0"))
    r = PackReader()
    assert r.feed(pack(5, b"", body[:3], b"", body[3:], b"")) == [(5, body)]


def test_absurd_buffer_count_is_rejected_before_reading_the_buffers():
    r = PackReader(FrameLimits(max_buffers=16))
    with pytest.raises(FramingError, match=r"announces 17 buffers .* \(at byte 4 "):
        r.feed(struct.pack(">ii", 1, 17))
    with pytest.raises(FramingError, match="announces -1 buffers"):
        PackReader().feed(struct.pack(">ii", 1, -1))


def test_oversized_or_negative_buffer_length_is_rejected_before_buffering_it():
    r = PackReader(FrameLimits(max_frame_bytes=1000))
    with pytest.raises(FramingError, match=r"2000 bytes long.*maxFrameBytes=1000 \(at byte 8 "):
        r.feed(struct.pack(">iii", 1, 1, 2000))                         # no byte of the buffer sent yet
    two = struct.pack(">ii", 1, 2) + struct.pack(">i", 600) + b"x" * 600 + struct.pack(">i", 500)
    with pytest.raises(FramingError, match=r"500 bytes long.*maxFrameBytes=1000 \(at byte 612 "):
        PackReader(FrameLimits(max_frame_bytes=1000)).feed(two)        # 600 + 500 > 1000
    with pytest.raises(FramingError, match="negative length -5"):
        PackReader().feed(struct.pack(">iii", 1, 1, -5))


def test_garbage_bytes_fail_as_framing():
    with pytest.raises(FramingError):
        PackReader().feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


# -- handshake ----------------------------------------------------------------------
def test_java_first_append_with_equal_hash_is_answered_both_then_ok():
    # The first request of a Java NettyTransceiver (shown in the shared README):
    # 43 bytes of handshake + meta + name, then 16 bytes of params.
    first = handshake_request(FLUME_HASH, None, FLUME_HASH) + call("append", b"")
    params = event({"seq": "0"}, b"event-0")
    assert (len(first), len(params)) == (43, 16)
    wire = pack(1, first, params)
    assert len(wire) == 75
    (serial, payload), = PackReader().feed(wire)
    sess = server()
    c = sess.read_request(payload)
    assert isinstance(c, Call) and c.name == "append"
    assert c.params == {"event": {"headers": {"seq": "0"}, "body": b"event-0"}}
    assert ServerSession.response(c, b"\x00") == HS_BOTH + OK
    # established: the next call carries no handshake, nor does its response
    c2 = sess.read_request(call("appendBatch", zz(2) + event({}, b"a") + event({"k": "v"}, b"b") + b"\x00"))
    assert isinstance(c2, Call) and [e["body"] for e in c2.params["events"]] == [b"a", b"b"]
    assert ServerSession.response(c2, b"\x02") == FAILED


def test_doc_bearing_client_gets_none_then_resends_with_its_text_and_gets_both():
    sess = server()
    ours = Protocol(AVRO_SOURCE_PROTOCOL)
    body = call("append", event({}, b"x"))
    reply = sess.read_request(handshake_request(DOC_HASH, None, DOC_HASH) + body)
    assert reply == hs_with_server(2, ours.text, ours.hash)           # NONE: handshake only, no call response
    assert not sess.established
    c = sess.read_request(handshake_request(DOC_HASH, DOC_TEXT, ours.hash) + body)
    assert isinstance(c, Call) and c.handshake == HS_BOTH and c.params["event"]["body"] == b"x"
    assert sess.established
    # another connection from the same client: the server-wide cache knows its hash now
    other = ServerSession(sess.local, sess.protocols, threading.Lock())
    c = other.read_request(handshake_request(DOC_HASH, None, ours.hash) + body)
    assert isinstance(c, Call) and c.handshake == HS_BOTH


def test_raw_messages_keep_their_bytes_when_the_client_layout_is_ours_and_decode_otherwise():
    local = Protocol(AVRO_SOURCE_PROTOCOL)
    batch = zz(1) + event({"h": "v"}, b"x") + b"\x00"
    doc = ServerSession(local, {local.hash: local}, threading.Lock(), frozenset({"appendBatch"}))
    c = doc.read_request(handshake_request(DOC_HASH, DOC_TEXT, local.hash) + call("appendBatch", batch))
    assert isinstance(c, Call) and c.params is None and c.raw == batch        # a doc changes no layout
    # a client whose event record puts body first writes other bytes: resolved and decoded here
    swapped = json.loads(FLUME_TEXT)
    swapped["types"][1]["fields"].reverse()
    text = json.dumps(swapped)
    theirs = b"\x02" + zz(1) + b"x" + b"\x02" + s("h") + s("v") + b"\x00" + b"\x00"
    other = ServerSession(local, {local.hash: local}, threading.Lock(), frozenset({"appendBatch"}))
    c = other.read_request(handshake_request(Protocol.from_text(text).hash, text, local.hash)
                           + call("appendBatch", theirs))
    assert c.raw is None and c.params == {"events": [{"headers": {"h": "v"}, "body": b"x"}]}


def test_known_client_guessing_a_wrong_server_hash_gets_client_with_the_server_protocol():
    sess = server()
    ours = sess.local
    c = sess.read_request(handshake_request(DOC_HASH, DOC_TEXT, DOC_HASH) + call("append", event({}, b"y")))
    assert isinstance(c, Call) and c.handshake == hs_with_server(1, ours.text, ours.hash)
    assert sess.established


def test_handshake_ping_with_empty_message_name_gets_only_the_handshake():
    sess = server()
    assert sess.read_request(handshake_request(FLUME_HASH, None, FLUME_HASH) + b"\x00" + s("")) == HS_BOTH


def test_handshake_state_is_per_connection():
    a, b = server(), server()
    a.read_request(handshake_request(FLUME_HASH, None, FLUME_HASH) + call("append", event({}, b"1")))
    with pytest.raises(ProtocolError, match="not an Avro handshake"):
        b.read_request(call("append", event({}, b"2")))          # b never shook hands


def test_unknown_message_and_undecodable_params_are_protocol_errors():
    sess = server()
    sess.read_request(handshake_request(FLUME_HASH, None, FLUME_HASH) + b"\x00" + s(""))
    with pytest.raises(ProtocolError, match="unknown message 'drop'"):
        sess.read_request(call("drop", b""))
    with pytest.raises(ProtocolError, match="parameters of 'append' do not decode"):
        sess.read_request(call("append", b"\x02"))
    with pytest.raises(ProtocolError, match="left over"):
        sess.read_request(call("append", event({}, b"z") + b"junk"))
    with pytest.raises(ProtocolError, match="not JSON"):
        server().read_request(handshake_request(b"\x01" * 16, "{nope", b"\x02" * 16))


def test_system_error_response_is_flag_one_union_zero_string():
    assert ServerSession.error_response(b"", "boom") == b"\x00" + b"\x01" + b"\x00" + s("boom")


# -- the client side (polling receiver) ------------------------------------------------
SINK = Protocol(SPARK_FLUME_PROTOCOL)


def test_client_first_request_then_none_then_resend_with_text():
    c = ClientSession(SINK)
    first = c.request("getEventBatch", {"n": 3})
    assert first == handshake_request(SINK.hash, None, SINK.hash) + call("getEventBatch", zz(3))
    other = Protocol.from_text(json.dumps({**SPARK_FLUME_PROTOCOL, "doc": "x"}))
    assert c.read_response("getEventBatch", hs_with_server(2, other.text, other.hash)) == (False, None)
    again = c.request("getEventBatch", {"n": 3}, with_text=True)
    assert again == handshake_request(SINK.hash, SINK.text, other.hash) + call("getEventBatch", zz(3))
    batch = s("") + s("abc1") + zz(1) + event({"h": "1"}, b"body") + b"\x00"
    done, value = c.read_response("getEventBatch", HS_BOTH + b"\x00\x00" + batch)
    assert done and value == {"errorMsg": "", "sequenceNumber": "abc1",
                              "events": [{"headers": {"h": "1"}, "body": b"body"}]}
    # established: no handshake either way; a null response is zero bytes
    assert c.request("ack", {"sequenceNumber": "abc1"}) == call("ack", s("abc1"))
    assert c.read_response("ack", b"\x00\x00") == (True, None)


def test_client_reads_error_batch_and_system_error():
    c = ClientSession(SINK)
    err_batch = s("Spark sink has been stopped!") + s("") + b"\x00"
    done, value = c.read_response("getEventBatch", HS_BOTH + b"\x00\x00" + err_batch)
    assert value["errorMsg"] == "Spark sink has been stopped!" and value["events"] == []
    with pytest.raises(RemoteError, match="no such"):
        c.read_response("ack", b"\x00\x01\x00" + s("no such sequence"))


# -- compression ----------------------------------------------------------------------
def test_deflate_is_one_zlib_stream_per_direction_flushed_per_message():
    d = Deflater(6)
    a, b = d.wrap(pack(1, b"first")), d.wrap(pack(2, b"second"))
    assert a[:2] == b"\x78\x9c" and b[:2] != b"\x78\x9c"
    plain = zlib.decompressobj()
    assert plain.decompress(a) == pack(1, b"first")        # decodable at once: sync-flushed
    inf, r = Inflater(1 << 20), PackReader()
    got = [p for chunk in (a[:5], a[5:] + b[:3], b[3:]) for p in r.feed(inf.feed(chunk))]
    assert got == [(1, b"first"), (2, b"second")]


def test_corrupt_or_exploding_compressed_stream_is_a_framing_error():
    with pytest.raises(FramingError, match="corrupt"):
        Inflater(1 << 20).feed(b"\x78\x9c\xff\xff\xff\xff")
    bomb = zlib.compress(b"\x00" * (1 << 20))
    with pytest.raises(FramingError, match="expand to more than"):
        Inflater(1000).feed(bomb)
