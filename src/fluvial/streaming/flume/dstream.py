"""The input stream of both Flume receivers: raw events in, decoded events out.

Receivers store ``(headers, body bytes)``, or, for the push receiver's
``appendBatch`` calls, the call's Avro bytes undecoded
(:class:`~fluvial.streaming.flume.events.PackedEvents`), so the write-ahead
log holds the bytes Flume sent; each batch decodes them and the bodies
(``bodyDecoder``) in its tasks, in parallel, yielding
``(headers: dict[str, str], bodyDecoder(body))`` in the order sent.

Events Flume sent that are not valid Avro (the receiver checks only the
array's framing) raise :class:`FlumeDecodeError` naming the peer, the batch,
the block and the events' positions in it; ``onDecodeError`` applies to the
whole call's events as to one event.

A body the decoder cannot decode raises :class:`FlumeDecodeError` naming the
batch, the block and the event's index in it, and the event's headers; with
``onDecodeError="fail"`` (the default) the batch fails with it. With
``"skip"`` the event is left out, logged, and counted in
:attr:`FlumeInputDStream.skippedEvents` (an accumulator: counted once per
successful task; a batch re-run after a failure may count again).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ...core.rdd import RDD
from ..sources.receiver import Receiver, ReceiverInputDStream
from ..util import batch_datetime
from .events import EventsError, PackedEvents, decode_events

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming.flume")

__all__ = ["FlumeInputDStream", "FlumeDecodeError", "utf8_decoder", "DECODE_ERROR_MODES"]

DECODE_ERROR_MODES = ("fail", "skip")


def utf8_decoder(s: bytes | None) -> str | None:
    """Decode UTF-8 bytes (strictly: invalid bytes raise); None stays None."""
    if s is None:
        return None
    return s.decode("utf-8")


class FlumeDecodeError(ValueError):
    """``bodyDecoder`` failed on one event; ``headers`` are the event's."""

    def __init__(self, message: str, headers: dict[str, str], batch_ms: int, block: int, index: int) -> None:
        super().__init__(message)
        self.headers = headers
        self.batch_ms = batch_ms
        self.block = block
        self.index = index

    def __reduce__(self) -> tuple:   # crosses process boundaries with its fields
        return (type(self), (str(self), self.headers, self.batch_ms, self.block, self.index))


def _describe(f: Callable[..., Any]) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _decoding(decoder: Callable[[Any], Any], mode: str, skipped: Any, t: int,
              source: str) -> Callable[[int, Iterator[Any]], Iterator[Any]]:
    fail = mode == "fail"

    def undecodable(exc: Exception, headers: dict, body: bytes, block: int, i: int) -> FlumeDecodeError:
        return FlumeDecodeError(
            f"{source}: cannot decode the body of event {i} of block {block} in batch {t} ms "
            f"({batch_datetime(t)}) with {_describe(decoder)}: {type(exc).__name__}: {exc}; event "
            f"headers {headers!r}, body {len(body)} bytes starting {bytes(body[:32])!r} "
            "(onDecodeError='skip' leaves such events out)", headers, t, block, i)

    def decode_block(block: int, items: Iterator[Any]) -> Iterator[Any]:
        def skip_or_raise(exc: Exception, headers: dict, body: bytes, index: int) -> None:
            err = undecodable(exc, headers, body, block, index)
            if fail:
                raise err from exc
            log.warning("skipped an undecodable Flume event: %s", err)
            skipped.add(1)

        i = 0                                  # index of the next event in the block
        for item in items:
            if type(item) is not PackedEvents:
                headers, body = item
                try:
                    value = decoder(body)
                except Exception as exc:  # noqa: BLE001 - any decoder failure is reported with the event's position
                    skip_or_raise(exc, headers, body, i)
                else:
                    yield headers, value
                i += 1
                continue
            first = i
            try:
                i = yield from decode_events(item.data, decoder, skip_or_raise, first)
            except EventsError as exc:
                i = first + exc.decoded
                left = max(item.count - exc.decoded, 0)
                err = FlumeDecodeError(
                    f"{source}: the events {item.peer} sent in one appendBatch ({item.count} counted; events "
                    f"{first} to {first + item.count - 1} of block {block} in batch {t} ms, {batch_datetime(t)}) "
                    f"are not valid Avro from event {i} on: {exc} (onDecodeError='skip' leaves the rest out)",
                    {}, t, block, i)
                if fail:
                    raise err from exc
                log.warning("skipped undecodable Flume events: %s", err)
                skipped.add(left)
                i = first + item.count
                continue
            if i - first != item.count:
                log.warning("%s: %s sent %d events in one appendBatch as several array blocks; %d were counted "
                            "in the batch's numRecords", source, item.peer, i - first, item.count)
    return decode_block


class FlumeInputDStream(ReceiverInputDStream):
    """Stream of one Flume receiver (push, polling or Thrift); see the module
    docstring. Receivers store a block per request; a batch's blocks are
    decoded block by block (errors name the block) and grouped, in order,
    into at most batch interval / ``spark.streaming.blockInterval``
    partitions (5 for 1 s batches), as many as Spark's Flume streams have."""

    _transient = ("skippedEvents",)

    def __init__(self, ssc: "StreamingContext", receiver: Receiver, bodyDecoder: Callable[[Any], Any],
                 onDecodeError: str = "fail") -> None:
        if not callable(bodyDecoder):
            raise TypeError(f"bodyDecoder must be callable, got {bodyDecoder!r}")
        if onDecodeError not in DECODE_ERROR_MODES:
            raise ValueError(f"onDecodeError must be 'fail' or 'skip', got {onDecodeError!r}")
        super().__init__(ssc, receiver)
        self.bodyDecoder = bodyDecoder
        self.onDecodeError = onDecodeError
        self.skippedEvents = self._sc.accumulator(0)

    def _after_restore(self) -> None:
        super()._after_restore()
        self.skippedEvents = self._sc.accumulator(0)

    def _compute(self, t: int) -> RDD | None:
        raw = super()._compute(t)
        if raw is None:
            return None
        decoded = raw.mapPartitionsWithIndex(
            _decoding(self.bodyDecoder, self.onDecodeError, self.skippedEvents, t, self.name),
            preservesPartitioning=True)
        limit = self._max_partitions()
        return decoded.coalesce(limit) if decoded.getNumPartitions() > limit else decoded

    def _max_partitions(self) -> int:
        """Batch interval / block interval: the partitions Spark's Flume
        receivers make (they store event by event, cut into blocks by the
        block interval). Ours store one block per request, so a batch's blocks
        are grouped, in order, into at most that many partitions."""
        block_ms = self._sc._conf.getMillis("spark.streaming.blockInterval", 200)
        return max(1, -(-self._slide_ms // max(1, block_ms)))
