"""Windowed streams.

A window at batch time ``t`` covers the parent's batches in
``(t - windowDuration, t]``. Both streams here produce an RDD only at times
that are multiples of their slide duration after the zero time.
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.rdd import RDD
from ..core.storage import StorageLevel
from .dstream import DStream
from .util import batch_datetime


def _check_window(parent: DStream, window_ms: int, slide_ms: int) -> None:
    p = parent._slide_ms
    if window_ms % p:
        raise ValueError(f"The window duration of windowed DStream ({window_ms} ms) must be a multiple "
                         f"of the slide duration of parent DStream ({p} ms)")
    if slide_ms % p:
        raise ValueError(f"The slide duration of windowed DStream ({slide_ms} ms) must be a multiple "
                         f"of the slide duration of parent DStream ({p} ms)")


class WindowedDStream(DStream):
    """Union of the parent's RDDs in the window, in batch order. The parent is
    persisted, since each of its RDDs is read by several windows."""

    def __init__(self, parent: DStream, window_ms: int, slide_ms: int) -> None:
        _check_window(parent, window_ms, slide_ms)
        super().__init__(parent._ssc, [parent], slide_ms)
        self.window_ms = window_ms
        if parent._storage_level is None:
            parent.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def _parent_remember_ms(self) -> int:
        return (self._remember_ms or self._slide_ms) + self.window_ms

    def _compute(self, t: int) -> RDD | None:
        parent = self._parents[0]
        rdds = parent._slice_ms(t - self.window_ms + parent._slide_ms, t)
        if not rdds:
            return self._sc.emptyRDD()
        return rdds[0] if len(rdds) == 1 else self._sc.union(rdds)


class ReducedWindowedDStream(DStream):
    """reduceByKeyAndWindow with an inverse function.

    When the previous window's result exists and the window is at least five
    slides long, the new window is the previous one with the batches that left
    "subtracted" (``inv_reduce_func``) and the batches that entered added
    (``reduce_func``); otherwise the window is reduced from scratch. Results are
    persisted and periodically checkpointed (a checkpoint directory is
    required), which bounds lineage over a long run."""

    def __init__(self, parent: DStream, reduce_func: Callable[[Any, RDD | None, RDD], RDD],
                 inv_reduce_func: Callable[[Any, RDD, RDD], RDD], window_ms: int, slide_ms: int) -> None:
        _check_window(parent, window_ms, slide_ms)
        super().__init__(parent._ssc, [parent], slide_ms)
        self.reduce_func = reduce_func
        self.inv_reduce_func = inv_reduce_func
        self.window_ms = window_ms
        self._must_checkpoint = True
        self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def _parent_remember_ms(self) -> int:
        return (self._remember_ms or self._slide_ms) + self.window_ms

    def _compute(self, t: int) -> RDD | None:
        parent = self._parents[0]
        ps = parent._slide_ms
        when = batch_datetime(t)
        begin, end = t - self.window_ms, t
        prev_begin, prev_end = begin - self._slide_ms, end - self._slide_ms
        previous = self._get_or_compute(prev_end)
        if previous is not None and self.window_ms >= self._slide_ms * 5:
            old = parent._slice_ms(prev_begin + ps, begin)
            current = (self.inv_reduce_func(when, previous, self._sc.union(old)) if old else previous)
            new = parent._slice_ms(prev_end + ps, end)
            return self.reduce_func(when, current, self._sc.union(new)) if new else current
        rdds = parent._slice_ms(begin + ps, end)
        if not rdds:
            return None
        return self.reduce_func(when, None, self._sc.union(rdds))
