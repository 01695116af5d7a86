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
been processed and its listener events delivered.
"""
from __future__ import annotations

import threading
from typing import Any, Iterable

from .core.rdd import RDD
from .streaming.clock import ManualClock
from .streaming.dstream import DStream
from .streaming.sources.queue import QueueInputDStream

__all__ = ["ManualClock", "ListSink", "queue_source", "QueueSource", "advance_batches"]


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
        with self.stream._qlock:
            self.stream.queue.append(self._rdd(batch))


def queue_source(ssc: Any, batches: Iterable[Iterable[Any]] = (), numSlices: int | None = None) -> DStream:
    """A DStream emitting ``batches`` one per batch interval (see :class:`QueueSource`)."""
    return QueueSource(ssc, batches, numSlices).stream


class ListSink:
    """Collects every batch of ``dstream``: ``batches[i]`` is the i-th batch's
    records (in ``collect`` order) and ``times[i]`` its time in ms."""

    def __init__(self, dstream: DStream) -> None:
        self.batches: list[list[Any]] = []
        self.times: list[int] = []
        self._lock = threading.Lock()
        dstream.foreachRDD(self._collect)

    def _collect(self, t: Any, rdd: RDD) -> None:
        records = rdd.collect()
        from .streaming.util import time_to_ms
        with self._lock:
            self.batches.append(records)
            self.times.append(time_to_ms(t))

    @property
    def records(self) -> list[Any]:
        """All records of all batches, in order."""
        with self._lock:
            return [r for b in self.batches for r in b]

    def sorted_batches(self) -> list[list[Any]]:
        with self._lock:
            return [sorted(b, key=repr) for b in self.batches]


def advance_batches(ssc: Any, n: int = 1) -> None:
    """Advance the context's ManualClock by ``n`` batch durations."""
    clock = ssc.clock
    if not isinstance(clock, ManualClock):
        raise TypeError("advance_batches needs a StreamingContext created with a ManualClock")
    clock.advance(n * ssc._batch_ms / 1000.0)
