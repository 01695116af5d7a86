"""Test a streaming job batch by batch, without sleeping.

Example::

    from operator import add
    from fluvial import SparkContext
    from fluvial.streaming import StreamingContext
    from fluvial.testing import ManualClock, ListSink, queue_source

    sc = SparkContext("local", "test")
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    words = queue_source(ssc, [["a", "b", "a"], ["b"]])
    sink = ListSink(words.map(lambda w: (w, 1)).reduceByKey(add))
    ssc.start()
    clock.advance(2)              # runs the batches at t=1s and t=2s, then returns
    assert [sorted(b) for b in sink.batches] == [[("a", 2), ("b", 1)], [("b", 1)]]
    ssc.stop()

``ManualClock.advance`` returns only when every batch due by the new time has
been processed and its listener events delivered. A ManualClock starts at 0,
so the batches of a context with batch duration ``d`` seconds are at
``d, 2d, 3d, ...`` seconds. For a one-call version of the above, see
:func:`run_stream`.
"""
from __future__ import annotations

import threading
import uuid
import weakref
from typing import Any, Callable, Iterable, Sequence

from .core.rdd import RDD
from .streaming.clock import ManualClock
from .streaming.dstream import DStream
from .streaming.sources.queue import QueueInputDStream
from .streaming.util import time_to_ms

__all__ = ["ManualClock", "ListSink", "queue_source", "QueueSource", "advance_batches", "run_stream"]


class QueueSource:
    """A queue-of-batches input: one queued batch per batch interval, empty
    batches once the queue runs dry. ``push`` adds batches while running."""

    def __init__(self, ssc: Any, batches: Iterable[Iterable[Any]] = (), numSlices: int | None = None) -> None:
        self._ssc = ssc
        self._num_slices = numSlices
        self.stream: QueueInputDStream = ssc.queueStream([self._rdd(b) for b in batches], oneAtATime=True)

    def _rdd(self, batch: Any) -> RDD:
        return batch if isinstance(batch, RDD) else self._ssc.sparkContext.parallelize(list(batch), self._num_slices)

    def push(self, batch: Iterable[Any]) -> None:
        """Queue one more batch (taken by the first batch time with the queue ahead of it empty)."""
        with self.stream._qlock:
            self.stream.queue.append(self._rdd(batch))


def _list_sink(key: str) -> "ListSink":
    live = ListSink._live.get(key)
    return live if live is not None else ListSink(None, key)


def queue_source(ssc: Any, batches: Iterable[Iterable[Any]] = (), numSlices: int | None = None) -> DStream:
    """A DStream emitting ``batches`` one per batch interval (see :class:`QueueSource`)."""
    return QueueSource(ssc, batches, numSlices).stream


class ListSink:
    """Collects every batch of ``dstream`` that has an RDD: ``batches[i]`` is
    the i-th such batch's records (in ``collect`` order) and ``times[i]`` its
    time in epoch milliseconds.

    A sink pickles (into a metadata checkpoint) as a reference: a context
    recovered with ``getOrCreate`` in the same process keeps collecting into
    the same sink; in another process it collects into a new, empty one."""

    _live: "weakref.WeakValueDictionary[str, ListSink]" = weakref.WeakValueDictionary()

    def __init__(self, dstream: DStream | None = None, _key: str | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.times: list[int] = []
        self._lock = threading.Lock()
        self._key = _key or uuid.uuid4().hex
        ListSink._live[self._key] = self
        if dstream is not None:
            dstream.foreachRDD(self._collect)

    def __reduce__(self) -> tuple:
        return _list_sink, (self._key,)

    def _collect(self, t: Any, rdd: RDD) -> None:
        records = rdd.collect()
        with self._lock:
            self.batches.append(records)
            self.times.append(time_to_ms(t))

    @property
    def records(self) -> list[Any]:
        """All records of all batches, in order."""
        with self._lock:
            return [r for b in self.batches for r in b]

    def sorted_batches(self) -> list[list[Any]]:
        """Each batch's records sorted by ``repr`` (for order-insensitive checks)."""
        with self._lock:
            return [sorted(b, key=repr) for b in self.batches]


def advance_batches(ssc: Any, n: int = 1) -> None:
    """Advance the context's ManualClock by ``n`` batch durations."""
    clock = ssc.clock
    if not isinstance(clock, ManualClock):
        raise TypeError("advance_batches needs a StreamingContext created with a ManualClock")
    clock.advance(n * ssc._batch_ms / 1000.0)


def run_stream(sc: Any, inputs: Sequence[Sequence[Iterable[Any]]],
               build: Callable[..., DStream | Sequence[DStream]], num_batches: int | None = None,
               batchDuration: float = 1, checkpoint: str | None = None,
               numSlices: int | None = None) -> Any:
    """Run a streaming computation over in-memory input and return its output.

    ``inputs`` holds one list of batches per input stream; ``build`` gets one
    DStream per input and returns the DStream to observe (or a list of them).
    The context runs on a ManualClock for ``num_batches`` batches (default:
    the longest input) and is stopped, leaving ``sc`` running. Returns the
    batches collected (as :attr:`ListSink.batches`), or a list of those when
    ``build`` returned a list; a failed batch raises its
    :class:`~fluvial.streaming.BatchFailedError`."""
    from .streaming.context import StreamingContext
    clock = ManualClock()
    ssc = StreamingContext(sc, batchDuration, clock=clock)
    try:
        if checkpoint is not None:
            ssc.checkpoint(checkpoint)
        streams = [queue_source(ssc, batches, numSlices) for batches in inputs]
        built = build(*streams)
        many = not isinstance(built, DStream)
        sinks = [ListSink(s) for s in (built if many else [built])]
        ssc.start()
        n = num_batches if num_batches is not None else max((len(b) for b in inputs), default=0)
        advance_batches(ssc, n)
        ssc.awaitTerminationOrTimeout(0)
    finally:
        ssc.stop(stopSparkContext=False)
    results = [s.batches for s in sinks]
    return results if many else results[0]
