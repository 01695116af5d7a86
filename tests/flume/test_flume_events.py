"""The push receiver's event codec: the appendBatch array counted from its
block headers in the receiver, decoded in tasks by a hand-written decoder
that must read exactly what fastavro reads, and refuse what is not an array
of events, naming the offset."""
from __future__ import annotations

import io
import pickle
import re

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluvial.streaming.flume.events import EventsError, PackedEvents, count_events, iter_events
from fluvial.streaming.flume.ipc import ProtocolError

from avro_bytes import event, zz

EVENTS = parse_schema({"type": "array", "items": {"type": "record", "name": "AvroFlumeEvent", "fields": [
    {"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}]}})

texts = st.text(max_size=80)                               # lengths cross the one-byte varint limit (63)
events = st.lists(st.tuples(st.dictionaries(texts, texts, max_size=4), st.binary(max_size=300)), max_size=12)


def fastavro_bytes(evs: list) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, EVENTS, [{"headers": h, "body": b} for h, b in evs])
    return out.getvalue()


def blocked(evs: list, sizes: list[int], negative: bool) -> bytes:
    """The same array written in several blocks (negative counts carry byte sizes), as Avro allows."""
    out, i = b"", 0
    for n in sizes:
        items = b"".join(event(h, b) for h, b in evs[i:i + n])
        out += (zz(-n) + zz(len(items)) if negative else zz(n)) + items
        i += n
    return out + b"\x00"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_decoder_reads_what_fastavro_reads(evs):
    data = fastavro_bytes(evs)
    assert list(iter_events(data)) == [(e["headers"], e["body"]) for e in schemaless_reader(io.BytesIO(data), EVENTS)]
    assert count_events(data) == len(evs)


@settings(max_examples=30, deadline=None)
@given(events.filter(lambda evs: len(evs) >= 3), st.booleans())
def test_arrays_in_several_blocks_decode_whole_and_negative_blocks_count_exactly(evs, negative):
    data = blocked(evs, [1, len(evs) - 2, 1], negative)
    assert list(iter_events(data)) == evs
    # a positive-count block is taken for the last one: its count is all the receiver can see
    assert count_events(data) == (len(evs) if negative else 1)


def test_every_truncation_and_extra_byte_is_refused_with_its_offset():
    data = fastavro_bytes([({"seq": str(i), "host": "web-1"}, b"x" * (i * 40)) for i in range(5)])
    for cut in range(len(data)):
        with pytest.raises(EventsError):
            list(iter_events(data[:cut]))
    with pytest.raises(EventsError, match=r"^1 bytes are left over after the array of events \(at byte \d+\)") as info:
        list(iter_events(data + b"\x00"))
    assert info.value.offset == len(data)


def test_events_before_the_damage_are_yielded_then_the_error_names_the_offset():
    good = event({"k": "v"}, b"one")
    bad = b"\x02" + b"\x06\xff\xfe\xfd" + b"\x02v" + b"\x00" + b"\x00"    # one header: its key is not UTF-8
    data = zz(2) + good + bad + b"\x00"
    got = []
    with pytest.raises(EventsError, match="is not UTF-8"):
        for e in iter_events(data):
            got.append(e)
    assert got == [({"k": "v"}, b"one")]
    with pytest.raises(EventsError, match="a body at byte 2 has negative length -2"):
        list(iter_events(zz(1) + b"\x00" + b"\x03"))


@pytest.mark.parametrize("data, fragment", [
    (zz(50) + b"\x00\x00" * 3 + b"\x00", "an array block of 50 events at byte 1 does not fit in the 7 bytes"),
    (zz(1) + event({}, b"x") + b"\x07", "or the array has no end marker"),
    (b"\x00\x00", "1 bytes follow the end of the array of events (at byte 1)"),
    (zz(-2) + zz(100) + b"\x00" * 4, "an array block of 2 events claims 100 bytes"),
    (b"\xff" * 11, "varint longer than 10 bytes"),
])
def test_counting_refuses_arrays_whose_headers_do_not_fit(data, fragment):
    with pytest.raises(ProtocolError, match=re.escape(fragment)):
        count_events(data)


def test_an_empty_array_counts_zero():
    assert count_events(b"\x00") == 0 and list(iter_events(b"\x00")) == []


def test_packed_events_pickle_as_their_fields():
    packed = PackedEvents("127.0.0.1:5000", 2, zz(2) + event({}, b"a") + event({"h": "v"}, b"b") + b"\x00")
    back = pickle.loads(pickle.dumps(packed))
    assert back == packed and list(back.events()) == [({}, b"a"), ({"h": "v"}, b"b")]
    assert repr(packed) == f"PackedEvents(peer='127.0.0.1:5000', count=2, {len(packed.data)} bytes)"
