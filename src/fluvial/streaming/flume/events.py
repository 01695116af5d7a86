"""Flume events as the push receiver stores them: the Avro bytes of one
``appendBatch`` call, undecoded (:class:`PackedEvents`), with the number of
events they hold and the peer that sent them. The stream's tasks decode them
(:func:`iter_events`), so decoding runs in the worker processes, in
parallel, and not in the thread that serves the connection; the
write-ahead log holds the bytes Flume sent.

The receiver reads only the array's block headers (:func:`count_events`):
the event count, which the rate limit, the block queue and ``numRecords``
use, and a cheap check that the bytes can be such an array. Bytes that pass
it but do not decode are reported by the task that decodes them, naming the
peer (see :class:`~fluvial.streaming.flume.dstream.FlumeInputDStream`).
"""
from __future__ import annotations

from typing import Any, Callable, Generator, Iterator

from .ipc import ProtocolError, read_long

__all__ = ["PackedEvents", "EventsError", "iter_events", "decode_events", "count_events"]


class PackedEvents:
    """``count`` events sent by ``peer`` in one call, as the Avro encoding of
    an ``array<AvroFlumeEvent>`` (``data``). Pickles as its three fields."""

    __slots__ = ("peer", "count", "data")

    def __init__(self, peer: str, count: int, data: bytes) -> None:
        self.peer = peer
        self.count = count
        self.data = data

    def __reduce__(self) -> tuple:
        return (PackedEvents, (self.peer, self.count, self.data))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PackedEvents) and self.peer == other.peer and self.count == other.count
                and self.data == other.data)

    def __hash__(self) -> int:
        return hash((self.peer, self.count, self.data))

    def __repr__(self) -> str:
        return f"PackedEvents(peer={self.peer!r}, count={self.count}, {len(self.data)} bytes)"

    def events(self) -> Iterator[tuple[dict[str, str], bytes]]:
        """The events, ``(headers, body)`` each, in order, decoded as they are
        read (:func:`iter_events`); raises :class:`EventsError` where the
        bytes stop being an array of events, after the events before it."""
        return iter_events(self.data)


class EventsError(ValueError):
    """Bytes that are not an Avro ``array<AvroFlumeEvent>``; ``offset`` is
    where it went wrong, ``decoded`` how many events came before it."""

    def __init__(self, message: str, offset: int, decoded: int = 0) -> None:
        super().__init__(message)
        self.offset = offset
        self.decoded = decoded


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos`` (any length): (value, next position)."""
    b = buf[pos]
    pos += 1
    n, shift = b & 0x7F, 7
    while b & 0x80:
        if shift > 63:
            raise EventsError(f"a varint longer than 10 bytes ends at byte {pos}", pos)
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


def _length(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """A byte length at ``pos`` (a varint of any size, never negative)."""
    n, after = _long(buf, pos)
    if n < 0:
        raise EventsError(f"{what} at byte {pos} has negative length {n}", pos)
    return n, after


def iter_events(buf: bytes) -> Iterator[tuple[dict[str, str], bytes]]:
    """Decode the Avro ``array<AvroFlumeEvent>`` in ``buf``, yielding
    ``(headers, body)`` per event; the whole of ``buf`` must be the array.

    Hand-written for this one record type because it is the push stream's
    hot path: with :func:`decode_events` it decodes an event with two
    headers and a 100-byte UTF-8 body in about 4.8 us, body included, where
    fastavro's ``schemaless_reader`` and the body take 5.9 (fastavro reads
    each field through a file object). Lengths of one or two bytes, the common case, are read inline.
    It reads whatever an Avro writer may write (varints of any length, array
    and map blocks with negative counts and byte sizes); the tests check it
    against fastavro on generated events. Raises :class:`EventsError` at
    the first byte that does not fit (after yielding the events before it),
    and if bytes are left over."""
    return decode_events(buf, _same, None)


def _same(body: bytes) -> bytes:
    return body


def decode_events(buf: bytes, body: Callable[[bytes], Any],
                  undecodable: Callable[[Exception, dict, bytes, int], None] | None,
                  first: int = 0) -> Generator[tuple[dict[str, str], Any], None, int]:
    """:func:`iter_events` yielding ``(headers, body(raw body))``, numbering
    events from ``first``; returns the number after the last. When ``body``
    raises, ``undecodable(error, headers, raw body, number)`` is called: it
    raises, or returns and the event is left out."""
    pos = 0
    end = len(buf)
    index = first
    try:
        while True:
            n = buf[pos]
            if n < 0x80:
                n = (n >> 1) ^ -(n & 1)
                pos += 1
            else:
                n, pos = _long(buf, pos)
            if n == 0:
                break
            if n < 0:
                n = -n
                _, pos = _long(buf, pos)
            for _ in range(n):
                headers = {}
                m = buf[pos]
                pos += 1
                while m:
                    if m & 0x81:                       # not a small positive count
                        m, pos = _long(buf, pos - 1)
                        if m < 0:
                            m = -m
                            _, pos = _long(buf, pos)
                    else:
                        m >>= 1
                    for _ in range(m):
                        ln = buf[pos]
                        if ln & 0x81:
                            ln, pos = _length(buf, pos, "a header key")
                        else:
                            ln >>= 1
                            pos += 1
                        stop = pos + ln
                        key = buf[pos:stop].decode("utf-8")
                        ln = buf[stop]
                        if ln & 0x81:
                            ln, pos = _length(buf, stop, "a header value")
                        else:
                            ln >>= 1
                            pos = stop + 1
                        stop = pos + ln
                        headers[key] = buf[pos:stop].decode("utf-8")
                        pos = stop
                    m = buf[pos]
                    pos += 1
                ln = buf[pos]
                if not ln & 0x81:
                    pos += 1
                    stop = pos + (ln >> 1)
                elif ln & 0x80 and not buf[pos + 1] & 0x80 and not ln & 1:    # two bytes: up to 8191
                    stop = pos + 2 + (((ln & 0x7F) | (buf[pos + 1] << 7)) >> 1)
                    pos += 2
                else:
                    ln, pos = _length(buf, pos, "a body")
                    stop = pos + ln
                if stop > end:
                    break
                raw = buf[pos:stop]
                try:
                    value = body(raw)
                except Exception as exc:  # noqa: BLE001 - the caller decides: raise, or leave the event out
                    if undecodable is None:
                        raise
                    undecodable(exc, headers, raw, index)
                else:
                    yield headers, value
                index += 1
                pos = stop
    except IndexError:
        pos = end + 1
    except UnicodeDecodeError as exc:
        raise EventsError(f"a header near byte {pos} is not UTF-8: {exc}", pos, index - first) from None
    except EventsError as exc:
        exc.decoded = index - first
        raise
    if pos > end:
        raise EventsError(f"the events end in the middle of a field (the array is {end} bytes)", end, index - first)
    if pos != end:
        raise EventsError(f"{end - pos} bytes are left over after the array of events (at byte {pos})", pos,
                          index - first)
    return index


def count_events(data: bytes) -> int:
    """Events in the Avro ``array<AvroFlumeEvent>`` encoded in ``data``, from
    its block headers alone. A block with a negative count gives its byte
    size and is stepped over; a positive-count block is taken to be the last
    one, as every Avro encoder writes a whole array (Java's, avsc's,
    fastavro's): its items must fit in the bytes left (two bytes at least per
    event) and the array's end marker, byte 0, must end ``data``. Raises
    :class:`~fluvial.streaming.flume.ipc.ProtocolError` otherwise."""
    total, pos, end = 0, 0, len(data)
    while True:
        n, pos = read_long(data, pos)
        if n == 0:
            if pos != end:
                raise ProtocolError(f"{end - pos} bytes follow the end of the array of events (at byte {pos})")
            return total
        if n < 0:
            size, pos = read_long(data, pos)
            if size < -2 * n or pos + size >= end:
                raise ProtocolError(f"an array block of {-n} events claims {size} bytes at byte {pos}; "
                                    f"{end - pos} bytes are left")
            total, pos = total - n, pos + size
            continue
        if n > (end - pos - 1) // 2 or data[end - 1] != 0:
            raise ProtocolError(f"an array block of {n} events at byte {pos} does not fit in the {end - pos} bytes "
                                "left, or the array has no end marker")
        return total + n
