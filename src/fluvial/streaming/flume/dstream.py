"""The input stream of both Flume receivers: raw events in, decoded events out.

Receivers store ``(headers, body bytes)`` (so the write-ahead log holds the
bytes Flume sent); each batch decodes bodies with ``bodyDecoder`` when it
runs, yielding ``(headers: dict[str, str], bodyDecoder(body))``.

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
    def decode_block(block: int, events: Iterator[Any]) -> Iterator[Any]:
        for i, (headers, body) in enumerate(events):
            try:
                value = decoder(body)
            except Exception as exc:  # noqa: BLE001 - any decoder failure is reported with the event's position
                err = FlumeDecodeError(
                    f"{source}: cannot decode the body of event {i} of block {block} in batch {t} ms "
                    f"({batch_datetime(t)}) with {_describe(decoder)}: {type(exc).__name__}: {exc}; event "
                    f"headers {headers!r}, body {len(body)} bytes starting {bytes(body[:32])!r} "
                    "(onDecodeError='skip' leaves such events out)", headers, t, block, i)
                if mode == "fail":
                    raise err from exc
                log.warning("skipped an undecodable Flume event: %s", err)
                skipped.add(1)
                continue
            yield headers, value
    return decode_block


class FlumeInputDStream(ReceiverInputDStream):
    """Stream of one Flume receiver (push or polling); see the module docstring."""

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
        return raw.mapPartitionsWithIndex(
            _decoding(self.bodyDecoder, self.onDecodeError, self.skippedEvents, t, self.name),
            preservesPartitioning=True)
