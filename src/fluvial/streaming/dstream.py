"""DStream: a sequence of RDDs, one per batch time.

Each DStream computes the RDD for a batch time from its parents' RDDs for
that (or earlier) times. Generated RDDs are remembered for ``rememberDuration``
and then dropped (and unpersisted). Chains of stateless transformations are
fused into one function per batch, except across ``cache``/``checkpoint``.

Batch times are epoch milliseconds, aligned to the batch duration; an RDD
exists for time ``t`` only when ``t - zeroTime`` is a positive multiple of the
stream's slide duration. Functions given to ``transform``/``foreachRDD`` may
take ``(rdd)`` or ``(time, rdd)``, time being a ``datetime`` as in PySpark.
"""
from __future__ import annotations

import operator
import threading
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from ..core.rdd import RDD
from ..core.resultiterable import ResultIterable
from ..core.shuffle import portable_hash
from ..core.storage import StorageLevel
from .util import (batch_datetime, call_site, positional_arity, rdd_to_filename, time_to_ms, to_ms)

if TYPE_CHECKING:
    from .context import StreamingContext

__all__ = ["DStream", "TransformedDStream", "ForEachDStream"]


class DStream:
    """A discretized stream. Create one from a :class:`StreamingContext` source."""

    def __init__(self, ssc: "StreamingContext", parents: Sequence["DStream"] = (),
                 slide_ms: int | None = None) -> None:
        ssc._check_can_add_stream()
        self._ssc = ssc
        self._sc = ssc._sc
        self._parents: list[DStream] = list(parents)
        if slide_ms is None:
            slide_ms = self._parents[0]._slide_ms if self._parents else ssc._batch_ms
        self._slide_ms: int = slide_ms
        self._generated: dict[int, RDD] = {}
        self._zero_ms: int | None = None
        self._remember_ms: int | None = None
        self._storage_level: StorageLevel | None = None
        self._checkpoint_ms: int | None = None
        self._must_checkpoint = False
        self.is_cached = False
        self.is_checkpointed = False
        self._creation_site = call_site()
        self._lock = threading.RLock()

    # ------------------------------------------------------------- machinery
    def _compute(self, t: int) -> RDD | None:
        raise TypeError(f"{type(self).__name__} does not define _compute()")

    def _parent_remember_ms(self) -> int:
        """How long parents must keep their RDDs for this stream to compute."""
        return self._remember_ms or self._slide_ms

    def _initialize(self, zero_ms: int) -> None:
        if self._zero_ms is not None and self._zero_ms == zero_ms:
            return
        self._zero_ms = zero_ms
        if self._must_checkpoint and self._checkpoint_ms is None:
            slides = -(-10_000 // self._slide_ms)
            self._checkpoint_ms = self._slide_ms * max(1, slides)
        for p in self._parents:
            p._initialize(zero_ms)

    def _remember(self, duration_ms: int | None) -> None:
        if duration_ms is not None and (self._remember_ms is None or duration_ms > self._remember_ms):
            self._remember_ms = duration_ms
        if self._remember_ms is None:
            self._remember_ms = self._slide_ms
        if self._checkpoint_ms is not None and self._remember_ms < 2 * self._checkpoint_ms:
            self._remember_ms = 2 * self._checkpoint_ms
        for p in self._parents:
            p._remember(self._parent_remember_ms())

    def _validate(self) -> None:
        if self._must_checkpoint and self._ssc._checkpoint_dir is None:
            raise ValueError(
                f"The checkpoint directory has not been set, and {type(self).__name__} created at "
                f"{self._creation_site} needs one. Please set it by StreamingContext.checkpoint().")
        if self._checkpoint_ms is not None and self._checkpoint_ms % self._slide_ms:
            raise ValueError(f"The checkpoint interval ({self._checkpoint_ms} ms) of the DStream created "
                             f"at {self._creation_site} must be a multiple of its slide duration "
                             f"({self._slide_ms} ms)")
        for p in self._parents:
            p._validate()

    def _is_time_valid(self, t: int) -> bool:
        if self._zero_ms is None:
            raise RuntimeError(f"{type(self).__name__} created at {self._creation_site} has not been "
                               "initialized: the StreamingContext has not been started")
        return t > self._zero_ms and (t - self._zero_ms) % self._slide_ms == 0

    def _get_or_compute(self, t: int) -> RDD | None:
        """The RDD for batch time ``t``, computed once and remembered."""
        with self._lock:
            if t in self._generated:
                return self._generated[t]
            if not self._is_time_valid(t):
                return None
            rdd = self._compute(t)
            if rdd is not None:
                if self._storage_level is not None:
                    rdd.persist(self._storage_level)
                if self._checkpoint_ms is not None and (t - self._zero_ms) % self._checkpoint_ms == 0:  # type: ignore[operator]
                    if self._sc._checkpoint_dir is not None:
                        rdd.checkpoint()
                    else:
                        rdd.localCheckpoint()
                self._generated[t] = rdd
            return rdd

    def _clear_metadata(self, t: int) -> None:
        """Forget RDDs older than the remember duration (and unpersist them)."""
        with self._lock:
            limit = t - (self._remember_ms or self._slide_ms)
            for old in [k for k in self._generated if k <= limit]:
                rdd = self._generated.pop(old)
                if rdd._storage_level is not None:
                    rdd.unpersist()
        for p in self._parents:
            p._clear_metadata(t)

    def _slice_ms(self, begin: int, end: int) -> list[RDD]:
        if self._zero_ms is None:
            raise RuntimeError(f"{type(self).__name__} created at {self._creation_site} has not been "
                               "initialized: slice() needs a started StreamingContext")
        z, s = self._zero_ms, self._slide_ms
        to_t = end if (end - z) % s == 0 else z + ((end - z) // s) * s
        from_t = begin if (begin - z) % s == 0 else z + ((begin - z) // s) * s
        rdds = []
        t = from_t
        while t <= to_t:
            if t >= z:
                rdd = self._get_or_compute(t)
                if rdd is not None:
                    rdds.append(rdd)
            t += s
        return rdds

    def _all_streams(self) -> Iterator["DStream"]:
        yield self
        for p in self._parents:
            yield from p._all_streams()

    # ------------------------------------------------------------- basic API
    def context(self) -> "StreamingContext":
        return self._ssc

    def slice(self, begin: Any, end: Any) -> list[RDD]:
        """RDDs for the batch times in ``[begin, end]`` (datetimes or epoch seconds)."""
        return self._slice_ms(time_to_ms(begin), time_to_ms(end))

    def cache(self) -> "DStream":
        return self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def persist(self, storageLevel: StorageLevel) -> "DStream":
        """Persist every RDD this stream generates."""
        self.is_cached = True
        self._storage_level = storageLevel
        return self

    def checkpoint(self, interval: float) -> "DStream":
        """Checkpoint this stream's RDDs every ``interval`` seconds, cutting their lineage."""
        self.is_checkpointed = True
        self._checkpoint_ms = to_ms(interval, "checkpoint interval")
        return self

    # --------------------------------------------------------- transformations
    def transform(self, func: Callable[..., RDD | None]) -> "DStream":
        """Apply an RDD-to-RDD function to every batch: ``func(rdd)`` or
        ``func(time, rdd)``. Returning None yields no RDD for that batch."""
        if positional_arity(func) == 1:
            one = func
            func = lambda t, rdd: one(rdd)  # noqa: E731
        return TransformedDStream(self, func)

    def transformWith(self, func: Callable[..., RDD | None], other: "DStream",
                      keepSerializer: bool = False) -> "DStream":
        """Combine this stream's and ``other``'s RDDs of each batch:
        ``func(rdd_a, rdd_b)`` or ``func(time, rdd_a, rdd_b)``; a side with no
        RDD for that time is passed as None."""
        if positional_arity(func) == 2:
            two = func
            func = lambda t, a, b: two(a, b)  # noqa: E731
        _same_slide("transformWith", self, other)
        return TransformedWithDStream(self, other, func)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator], Iterable],
                               preservesPartitioning: bool = False) -> "DStream":
        return self.transform(lambda rdd: rdd.mapPartitionsWithIndex(f, preservesPartitioning))

    def mapPartitions(self, f: Callable[[Iterator], Iterable], preservesPartitioning: bool = False) -> "DStream":
        return self.mapPartitionsWithIndex(lambda _, it: f(it), preservesPartitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> "DStream":
        return self.mapPartitions(lambda it: map(f, it), preservesPartitioning)

    def flatMap(self, f: Callable[[Any], Iterable], preservesPartitioning: bool = False) -> "DStream":
        return self.mapPartitions(lambda it: chain.from_iterable(map(f, it)), preservesPartitioning)

    def filter(self, f: Callable[[Any], bool]) -> "DStream":
        return self.mapPartitions(lambda it: filter(f, it), True)

    def glom(self) -> "DStream":
        return self.mapPartitions(lambda it: [list(it)])

    def mapValues(self, f: Callable[[Any], Any]) -> "DStream":
        return self.mapPartitions(lambda it: ((k, f(v)) for k, v in it), True)

    def flatMapValues(self, f: Callable[[Any], Iterable]) -> "DStream":
        return self.mapPartitions(lambda it: ((k, x) for k, v in it for x in f(v)), True)

    def repartition(self, numPartitions: int) -> "DStream":
        return self.transform(lambda rdd: rdd.repartition(numPartitions))

    def partitionBy(self, numPartitions: int, partitionFunc: Callable[[Any], int] = portable_hash) -> "DStream":
        return self.transform(lambda rdd: rdd.partitionBy(numPartitions, partitionFunc))

    def count(self) -> "DStream":
        """One record per batch: the number of records in it."""
        return self.mapPartitions(lambda it: [sum(1 for _ in it)]).reduce(operator.add)

    def reduce(self, func: Callable[[Any, Any], Any]) -> "DStream":
        """One record per non-empty batch: all its records reduced with ``func``."""
        return self.map(lambda x: (None, x)).reduceByKey(func, 1).map(lambda kv: kv[1])

    def countByValue(self) -> "DStream":
        return self.map(lambda x: (x, 1)).reduceByKey(operator.add)

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable, mergeCombiners: Callable,
                     numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.combineByKey(createCombiner, mergeValue, mergeCombiners, n))

    def reduceByKey(self, func: Callable[[Any, Any], Any], numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.reduceByKey(func, n))

    def groupByKey(self, numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.groupByKey(n))

    def union(self, other: "DStream") -> "DStream":
        _same_slide("union", self, other)
        return self.transformWith(lambda a, b: a.union(b), other, True)

    def cogroup(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.cogroup(b, n), other)

    def join(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.join(b, n), other)

    def leftOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.leftOuterJoin(b, n), other)

    def rightOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.rightOuterJoin(b, n), other)

    def fullOuterJoin(self, other: "DStream", numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transformWith(lambda a, b: a.fullOuterJoin(b, n), other)

    # ---------------------------------------------------------------- windows
    def _validate_window_param(self, window: float, slide: float | None) -> None:
        d = self._slide_ms
        if to_ms(window, "windowDuration") % d:
            raise ValueError(f"windowDuration must be multiple of the parent dstream's slide (batch) "
                             f"duration ({d} ms), got {to_ms(window, 'windowDuration')} ms")
        if slide is not None and to_ms(slide, "slideDuration") % d:
            raise ValueError(f"slideDuration must be multiple of the parent dstream's slide (batch) "
                             f"duration ({d} ms), got {to_ms(slide, 'slideDuration')} ms")

    def window(self, windowDuration: float, slideDuration: float | None = None) -> "DStream":
        """Every ``slideDuration`` seconds, the union of the batches of the last
        ``windowDuration`` seconds (``(t - window, t]``), in batch order."""
        from .window import WindowedDStream
        self._validate_window_param(windowDuration, slideDuration)
        slide = self._slide_ms if slideDuration is None else to_ms(slideDuration, "slideDuration")
        return WindowedDStream(self, to_ms(windowDuration, "windowDuration"), slide)

    def reduceByKeyAndWindow(self, func: Callable[[Any, Any], Any], invFunc: Callable[[Any, Any], Any] | None,
                             windowDuration: float, slideDuration: float | None = None,
                             numPartitions: int | None = None,
                             filterFunc: Callable[[Any], bool] | None = None) -> "DStream":
        """reduceByKey over a sliding window. With ``invFunc`` the window is
        updated incrementally (add the new batches, "subtract" the old ones),
        which needs a checkpoint directory; keys whose value drops to the
        identity stay unless ``filterFunc`` removes them."""
        from .window import ReducedWindowedDStream
        self._validate_window_param(windowDuration, slideDuration)
        n = numPartitions or self._sc.defaultParallelism
        reduced = self.reduceByKey(func, n)
        if invFunc is None:
            return reduced.window(windowDuration, slideDuration).reduceByKey(func, n)

        def reduce_func(t: Any, a: RDD | None, b: RDD) -> RDD:
            b = b.reduceByKey(func, n)
            r = a.union(b).reduceByKey(func, n) if a is not None else b
            if filterFunc is not None:
                r = r.filter(filterFunc)
            return r

        def inv_reduce_func(t: Any, a: RDD, b: RDD) -> RDD:
            b = b.reduceByKey(func, n)
            joined = a.leftOuterJoin(b, n)
            return joined.mapValues(lambda vw: invFunc(vw[0], vw[1]) if vw[1] is not None else vw[0])
        slide = self._slide_ms if slideDuration is None else to_ms(slideDuration, "slideDuration")
        return ReducedWindowedDStream(reduced, reduce_func, inv_reduce_func,
                                      to_ms(windowDuration, "windowDuration"), slide)

    def reduceByWindow(self, reduceFunc: Callable[[Any, Any], Any], invReduceFunc: Callable[[Any, Any], Any] | None,
                       windowDuration: float, slideDuration: float) -> "DStream":
        keyed = self.map(lambda x: (1, x))
        reduced = keyed.reduceByKeyAndWindow(reduceFunc, invReduceFunc, windowDuration, slideDuration, 1)
        return reduced.map(lambda kv: kv[1])

    def countByWindow(self, windowDuration: float, slideDuration: float) -> "DStream":
        return self.map(lambda x: 1).reduceByWindow(operator.add, operator.sub, windowDuration, slideDuration)

    def countByValueAndWindow(self, windowDuration: float, slideDuration: float,
                              numPartitions: int | None = None) -> "DStream":
        keyed = self.map(lambda x: (x, 1))
        counted = keyed.reduceByKeyAndWindow(operator.add, operator.sub, windowDuration, slideDuration,
                                             numPartitions)
        return counted.filter(lambda kv: kv[1] > 0)

    def groupByKeyAndWindow(self, windowDuration: float, slideDuration: float,
                            numPartitions: int | None = None) -> "DStream":
        ls = self.mapValues(lambda x: [x])
        grouped = ls.reduceByKeyAndWindow(lambda a, b: a.extend(b) or a, lambda a, b: a[len(b):],
                                          windowDuration, slideDuration, numPartitions)
        return grouped.mapValues(ResultIterable)

    # ------------------------------------------------------------------ state
    def updateStateByKey(self, updateFunc: Callable[[list, Any], Any], numPartitions: int | None = None,
                         initialRDD: Any = None) -> "DStream":
        """Running state per key: ``updateFunc(new_values, old_state)`` is called
        for every key with new values or existing state, every batch; returning
        None removes the key. Needs a checkpoint directory."""
        from .state import StateDStream
        n = numPartitions or self._sc.defaultParallelism
        if initialRDD is not None and not isinstance(initialRDD, RDD):
            initialRDD = self._sc.parallelize(initialRDD)

        def reduce_func(t: Any, a: RDD | None, b: RDD) -> RDD:
            if a is None:
                g = b.groupByKey(n).mapValues(lambda vs: (list(vs), None))
            else:
                g = a.cogroup(b.partitionBy(n), n)
                g = g.mapValues(lambda ab: (list(ab[1]), list(ab[0])[0] if len(ab[0]) else None))
            state = g.mapValues(lambda vs_s: updateFunc(vs_s[0], vs_s[1]))
            return state.filter(lambda kv: kv[1] is not None)
        return StateDStream(self, reduce_func, initialRDD)

    def mapWithState(self, spec: Any) -> Any:
        """Per-key state with a mapping function, timeouts and an initial
        state (fluvial's counterpart of Scala's ``mapWithState``); see
        :class:`fluvial.streaming.StateSpec`."""
        from .state import MapWithStateDStream
        return MapWithStateDStream(self, spec)

    # ------------------------------------------------------------------ output
    def foreachRDD(self, func: Callable[..., Any]) -> None:
        """Run ``func(rdd)`` or ``func(time, rdd)`` on every batch's RDD, in the
        batch's job; output operations of a batch run in declaration order."""
        if positional_arity(func) == 1:
            one = func
            func = lambda t, rdd: one(rdd)  # noqa: E731
        ForEachDStream(self, func, "foreachRDD")

    def pprint(self, num: int = 10) -> None:
        """Print the first ``num`` records of every batch under a time header."""
        def take_and_print(t: Any, rdd: RDD) -> None:
            taken = rdd.take(num + 1)
            print("-------------------------------------------")
            print("Time: %s" % t)
            print("-------------------------------------------")
            for record in taken[:num]:
                print(record)
            if len(taken) > num:
                print("...")
            print("", flush=True)
        ForEachDStream(self, take_and_print, "pprint")

    def saveAsTextFiles(self, prefix: str, suffix: str | None = None) -> None:
        """Write each batch with ``saveAsTextFile`` to ``prefix-<ms>[.suffix]``."""
        def save(t: Any, rdd: RDD) -> None:
            rdd.saveAsTextFile(rdd_to_filename(prefix, suffix, t))
        ForEachDStream(self, save, "saveAsTextFiles")

    def __repr__(self) -> str:
        return f"{type(self).__name__}@{self._creation_site}"


def _same_slide(op: str, a: DStream, b: DStream) -> None:
    if a._slide_ms != b._slide_ms:
        raise ValueError(f"{op}: the two DStreams should have same slide duration "
                         f"({a._slide_ms} ms vs {b._slide_ms} ms)")
    if a._ssc is not b._ssc:
        raise ValueError(f"{op}: the two DStreams belong to different StreamingContexts")


class TransformedDStream(DStream):
    """``func(time, rdd)`` applied to each parent RDD; consecutive transforms
    fuse into one function unless the parent is cached or checkpointed."""

    def __init__(self, prev: DStream, func: Callable[[Any, RDD], RDD | None]) -> None:
        if isinstance(prev, TransformedDStream) and not prev.is_cached and not prev.is_checkpointed:
            prev_func = prev.func
            self.func: Callable[[Any, RDD], RDD | None] = lambda t, rdd: func(t, prev_func(t, rdd))
            self.prev = prev.prev
        else:
            self.func = func
            self.prev = prev
        super().__init__(prev._ssc, [self.prev])

    def _compute(self, t: int) -> RDD | None:
        parent = self.prev._get_or_compute(t)
        if parent is None:
            return None
        return self.func(batch_datetime(t), parent)


class TransformedWithDStream(DStream):
    def __init__(self, a: DStream, b: DStream, func: Callable[[Any, RDD | None, RDD | None], RDD | None]) -> None:
        super().__init__(a._ssc, [a, b])
        self.func = func

    def _compute(self, t: int) -> RDD | None:
        a = self._parents[0]._get_or_compute(t)
        b = self._parents[1]._get_or_compute(t)
        return self.func(batch_datetime(t), a, b)


class ForEachDStream(DStream):
    """An output operation: registers itself with the context's graph."""

    def __init__(self, parent: DStream, func: Callable[[Any, RDD], Any], name: str) -> None:
        super().__init__(parent._ssc, [parent])
        self.func = func
        self.name = name
        self.description = f"{name} at {self._creation_site}"
        self._ssc._graph.add_output_stream(self)

    def _compute(self, t: int) -> RDD | None:
        return None

    def _job_for(self, t: int) -> Callable[[], None] | None:
        rdd = self._parents[0]._get_or_compute(t)
        if rdd is None:
            return None
        when = batch_datetime(t)
        return lambda: self.func(when, rdd)
