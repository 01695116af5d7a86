"""DStream: a sequence of RDDs, one per batch time.

Each DStream computes the RDD for a batch time from its parents' RDDs for
that (or earlier) times. Batch times are epoch milliseconds aligned to the
batch duration; a stream has an RDD for time ``t`` only when ``t - zeroTime``
is a positive multiple of its slide duration (Spark's ``isTimeValid``). An
RDD, once generated for a time, is remembered (so every output operation and
every window of that batch sees the same RDD) for the stream's remember
duration, then forgotten and unpersisted (Spark's ``clearMetadata``).

Chains of ``transform``-based operations (``map``, ``filter``, ...) fuse into
one function per batch, as in PySpark, except across ``cache``/``persist``/
``checkpoint``. Functions given to ``transform``/``foreachRDD`` take
``(rdd)`` or ``(time, rdd)``, chosen like PySpark by the number of declared
positional parameters; ``time`` is a local ``datetime``.
"""
from __future__ import annotations

import operator
import os
import shutil
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from ..core.pipeline import group_append, group_create, group_extend
from ..core.rdd import RDD
from ..core.resultiterable import ResultIterable
from ..core.shuffle import portable_hash
from ..core.storage import StorageLevel
from .util import (batch_datetime, call_site, long_call_site, positional_arity, rdd_to_filename,
                   time_to_ms, to_ms)

if TYPE_CHECKING:
    from .context import StreamingContext

__all__ = ["DStream", "TransformedDStream", "ForEachDStream"]

_MEMORY_ONLY: StorageLevel = StorageLevel.MEMORY_ONLY  # type: ignore[attr-defined]


class DStream:
    """A discretized stream. Create one from a :class:`StreamingContext` source.

    Subclasses define ``_compute(t)`` and list in ``_function_attrs`` the
    attributes holding the functions they apply (all of which must survive a
    cloudpickle round trip)."""

    _function_attrs: tuple[str, ...] = ()
    _transient: tuple[str, ...] = ()
    """Attributes left out of metadata checkpoints (locks, threads, clients);
    a class re-creates them in :meth:`_after_restore`."""

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
        self._remember_propagated = False
        self.is_cached = False
        self.is_checkpointed = False
        self._creation_site = call_site()
        self._lock = threading.RLock()

    # ------------------------------------------------------------- machinery
    def _compute(self, t: int) -> RDD | None:
        raise TypeError(f"{type(self).__name__} does not define _compute()")

    def _name(self) -> str:
        return f"{type(self).__name__} created at {self._creation_site}"

    def _parent_remember_ms(self) -> int:
        """How long parents must keep their RDDs for this stream to compute."""
        return self._remember_ms or self._slide_ms

    def _default_checkpoint_ms(self) -> int:
        """Checkpoint interval of a stream that must checkpoint: the slide
        duration or 10 seconds, whichever is larger (rounded up to a slide)."""
        return self._slide_ms * max(1, -(-10_000 // self._slide_ms))

    def _initialize(self, zero_ms: int) -> None:
        """Fix the zero time, the default checkpoint interval and the minimum
        remember duration (Spark's ``DStream.initialize``)."""
        if self._zero_ms == zero_ms:
            return
        if self._zero_ms is not None:
            raise RuntimeError(f"{self._name()}: zero time is already {self._zero_ms} ms, "
                               f"cannot initialize it again to {zero_ms} ms")
        self._zero_ms = zero_ms
        if self._must_checkpoint and self._checkpoint_ms is None:
            self._checkpoint_ms = self._default_checkpoint_ms()
        minimum = self._slide_ms
        if self._checkpoint_ms is not None and minimum <= self._checkpoint_ms:
            minimum = 2 * self._checkpoint_ms
        if self._remember_ms is None or self._remember_ms < minimum:
            self._remember_ms = minimum
        for p in self._parents:
            p._initialize(zero_ms)

    def _remember(self, duration_ms: int | None) -> None:
        """Remember RDDs for at least ``duration_ms``, and make parents keep
        what this stream needs (each stream is visited again only when its
        duration grew, so shared ancestors cost once)."""
        grew = duration_ms is not None and (self._remember_ms is None or duration_ms > self._remember_ms)
        if grew:
            self._remember_ms = duration_ms
        if not grew and self._remember_propagated:
            return
        self._remember_propagated = True
        for p in self._parents:
            p._remember(self._parent_remember_ms())

    def _validate(self) -> None:
        """Spark's ``validateAtStart`` for this stream (not its parents):
        checkpointing needs a directory and an interval that is a multiple of
        the slide duration."""
        cp, slide = self._checkpoint_ms, self._slide_ms
        if cp is not None and self._sc.getCheckpointDir() is None:
            raise ValueError("The checkpoint directory has not been set. Please set it by "
                             f"StreamingContext.checkpoint(). (needed by {self._name()})")
        if cp is not None and cp < slide:
            raise ValueError(f"The checkpoint interval for {self._name()} has been set to {cp} ms which is "
                             f"lower than its slide time ({slide} ms). Please set it to at least {slide} ms.")
        if cp is not None and cp % slide:
            raise ValueError(f"The checkpoint interval for {self._name()} has been set to {cp} ms which is "
                             f"not a multiple of its slide time ({slide} ms). Please set it to a multiple "
                             f"of {slide} ms.")

    def _check_not_started(self, what: str) -> None:
        if self._zero_ms is not None:
            raise RuntimeError(f"Cannot change {what} of a DStream after streaming context has started")

    def _is_time_valid(self, t: int) -> bool:
        if self._zero_ms is None:
            raise RuntimeError(f"{self._name()} has not been initialized: the StreamingContext "
                               "has not been started")
        return t > self._zero_ms and (t - self._zero_ms) % self._slide_ms == 0

    def _get_or_compute(self, t: int) -> RDD | None:
        """The RDD for batch time ``t`` (None if the stream has none then),
        computed once and remembered; persisted and marked for checkpointing
        as the stream asks."""
        with self._lock:
            if t in self._generated:
                return self._generated[t]
            if not self._is_time_valid(t):
                return None
            rdd = self._compute(t)
            if rdd is not None:
                if self._storage_level is not None and rdd._storage_level is None:
                    rdd.persist(self._storage_level)
                if self._checkpoint_ms is not None and (t - self._zero_ms) % self._checkpoint_ms == 0:  # type: ignore[operator]
                    rdd.checkpoint()
                self._generated[t] = rdd
            return rdd

    def _clear_metadata(self, t: int) -> None:
        """Forget this stream's (not its parents') RDDs at or before ``t -
        rememberDuration`` and unpersist them. Their data checkpoint files are
        deleted by the checkpoint writer once no kept metadata checkpoint
        refers to them."""
        with self._lock:
            limit = t - (self._remember_ms or self._slide_ms)
            old = [self._generated.pop(k) for k in [k for k in self._generated if k <= limit]]
        for rdd in old:
            if rdd._storage_level is not None:
                rdd.unpersist()

    # ------------------------------------------------------- checkpointing
    def __getstate__(self) -> dict:
        """What a metadata checkpoint keeps of this stream: every attribute
        but the runtime ones (context, lock, ``_transient``), and of the
        generated RDDs only those whose data checkpoint is written (the
        checkpoint pickler turns them into references to their files)."""
        state = dict(self.__dict__)
        for cls in type(self).__mro__:
            for name in getattr(cls, "_transient", ()):
                state.pop(name, None)
        for name in ("_ssc", "_sc", "_lock"):
            state.pop(name, None)
        state["_generated"] = {t: rdd for t, rdd in self._generated.items()
                               if rdd.isCheckpointed() and rdd.getCheckpointFile() is not None}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def _restore(self, ssc: "StreamingContext") -> None:
        """Re-attach a stream unpickled from a metadata checkpoint to the
        recovering context, then let the class rebuild its runtime parts."""
        self._ssc = ssc
        self._sc = ssc._sc
        self._after_restore()

    def _after_restore(self) -> None:
        """Hook: re-create what ``_transient`` left out of the checkpoint."""

    def _checkpoint_done(self, safe_ms: int) -> None:
        """Hook: a metadata checkpoint is durable and no kept checkpoint needs
        this stream's data of batch times ``<= safe_ms`` (a source may drop
        logs of them)."""

    def _slice_ms(self, begin: int, end: int) -> list[RDD]:
        """RDDs of the valid times in ``[begin, end]``, both ends aligned down
        to the slide grid (Spark's ``slice``)."""
        if self._zero_ms is None:
            raise RuntimeError(f"{self._name()} has not been initialized: slice() needs a started "
                               "StreamingContext")
        z, s = self._zero_ms, self._slide_ms
        to_t = z + ((end - z) // s) * s
        from_t = z + ((begin - z) // s) * s
        rdds = []
        for t in range(from_t, to_t + 1, s):
            if t >= z:
                rdd = self._get_or_compute(t)
                if rdd is not None:
                    rdds.append(rdd)
        return rdds

    def _all_streams(self) -> Iterator["DStream"]:
        """This stream and its ancestors (each once)."""
        seen: set[int] = set()
        stack: list[DStream] = [self]
        while stack:
            s = stack.pop()
            if id(s) in seen:
                continue
            seen.add(id(s))
            yield s
            stack.extend(s._parents)

    # ------------------------------------------------------------- basic API
    def context(self) -> "StreamingContext":
        """The StreamingContext this stream belongs to."""
        return self._ssc

    def slice(self, begin: Any, end: Any) -> list[RDD]:
        """The RDDs of the batch times in ``[begin, end]`` (datetimes or epoch
        seconds; both included). Times are aligned down to the slide duration;
        RDDs no longer remembered are computed again."""
        return self._slice_ms(time_to_ms(begin), time_to_ms(end))

    def cache(self) -> "DStream":
        """Persist this stream's RDDs at ``MEMORY_ONLY``."""
        return self.persist(_MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel) -> "DStream":
        """Persist every RDD this stream generates at ``storageLevel`` (until
        it is forgotten). Only before the context starts."""
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"persist: storageLevel must be a StorageLevel, got {storageLevel!r}")
        self._check_not_started("storage level")
        self.is_cached = True
        self._set_storage(storageLevel)
        return self

    def _set_storage(self, level: StorageLevel) -> None:
        self._storage_level = level

    def checkpoint(self, interval: float) -> "DStream":
        """Checkpoint this stream's RDDs every ``interval`` seconds (a multiple
        of the slide duration), cutting their lineage; the RDDs are persisted.
        Needs ``StreamingContext.checkpoint(dir)`` before start."""
        self._check_not_started("checkpoint interval")
        self.is_checkpointed = True
        ms = to_ms(interval, "checkpoint interval")
        if self._storage_level is None:
            self._set_storage(_MEMORY_ONLY)
        self._checkpoint_ms = ms
        return self

    # --------------------------------------------------------- transformations
    def transform(self, func: Callable[..., RDD | None]) -> "DStream":
        """Apply an RDD-to-RDD function to every batch: ``func(rdd)`` or
        ``func(time, rdd)``. Returning None leaves the batch without an RDD
        (its output operations do not run)."""
        if positional_arity(func) == 1:
            func = _drop_time(func)
        return TransformedDStream(self, func)

    def transformWith(self, func: Callable[..., RDD | None], other: "DStream",
                      keepSerializer: bool = False) -> "DStream":
        """Combine this stream's and ``other``'s RDDs of each batch:
        ``func(rdd_a, rdd_b)`` or ``func(time, rdd_a, rdd_b)``. The result
        slides like this stream; a side with no RDD at that time is passed as
        an empty RDD (as in PySpark)."""
        if positional_arity(func) == 2:
            func = _drop_time(func)
        _same_context(self, other)
        return TransformedWithDStream(self, other, func)

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator], Iterable],
                               preservesPartitioning: bool = False) -> "DStream":
        return self.transform(lambda rdd: rdd.mapPartitionsWithIndex(f, preservesPartitioning))

    def mapPartitions(self, f: Callable[[Iterator], Iterable], preservesPartitioning: bool = False) -> "DStream":
        return self.mapPartitionsWithIndex(lambda _, it: f(it), preservesPartitioning)

    # Record-level operations map to the RDD's own, so consecutive ones fuse
    # into one compiled loop per partition (fluvial.core.pipeline).
    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> "DStream":
        return self.transform(lambda rdd: rdd.map(f, preservesPartitioning))

    def flatMap(self, f: Callable[[Any], Iterable], preservesPartitioning: bool = False) -> "DStream":
        return self.transform(lambda rdd: rdd.flatMap(f, preservesPartitioning))

    def filter(self, f: Callable[[Any], bool]) -> "DStream":
        return self.transform(lambda rdd: rdd.filter(f))

    def glom(self) -> "DStream":
        """Each partition of each batch as one list."""
        return self.mapPartitions(lambda it: [list(it)])

    def mapValues(self, f: Callable[[Any], Any]) -> "DStream":
        return self.map(lambda kv: (kv[0], f(kv[1])), preservesPartitioning=True)

    def flatMapValues(self, f: Callable[[Any], Iterable]) -> "DStream":
        return self.flatMap(lambda kv: ((kv[0], x) for x in f(kv[1])), preservesPartitioning=True)

    def repartition(self, numPartitions: int) -> "DStream":
        return self.transform(lambda rdd: rdd.repartition(numPartitions))

    def partitionBy(self, numPartitions: int, partitionFunc: Callable[[Any], int] = portable_hash) -> "DStream":
        return self.transform(lambda rdd: rdd.partitionBy(numPartitions, partitionFunc))

    def count(self) -> "DStream":
        """One record per batch: its number of records. A batch whose RDD has
        no partitions yields no record (as in PySpark)."""
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
        return self.combineByKey(lambda x: x, func, func, n)

    def groupByKey(self, numPartitions: int | None = None) -> "DStream":
        n = numPartitions or self._sc.defaultParallelism
        return self.transform(lambda rdd: rdd.groupByKey(n))

    def union(self, other: "DStream") -> "DStream":
        """Both streams' records, batch by batch (this stream's first)."""
        if self._slide_ms != other._slide_ms:
            raise ValueError("the two DStream should have same slide duration "
                             f"({self._slide_ms} ms and {other._slide_ms} ms)")
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
        if int(window * 1000) % d:
            raise ValueError("windowDuration must be multiple of the parent dstream's slide (batch) "
                             f"duration ({d} ms); got {int(window * 1000)} ms")
        if slide and int(slide * 1000) % d:
            raise ValueError("slideDuration must be multiple of the parent dstream's slide (batch) "
                             f"duration ({d} ms); got {int(slide * 1000)} ms")

    def _slide_or_own(self, slideDuration: float | None) -> int:
        return self._slide_ms if slideDuration is None else to_ms(slideDuration, "slideDuration")

    def window(self, windowDuration: float, slideDuration: float | None = None) -> "DStream":
        """Every ``slideDuration`` seconds (default: this stream's slide), the
        union of this stream's RDDs in ``(t - windowDuration, t]``, oldest first.
        This stream's RDDs are persisted, since several windows read each."""
        from .window import WindowedDStream
        self._validate_window_param(windowDuration, slideDuration)
        return WindowedDStream(self, to_ms(windowDuration, "windowDuration"), self._slide_or_own(slideDuration))

    def reduceByKeyAndWindow(self, func: Callable[[Any, Any], Any], invFunc: Callable[[Any, Any], Any] | None,
                             windowDuration: float, slideDuration: float | None = None,
                             numPartitions: int | None = None,
                             filterFunc: Callable[[Any], bool] | None = None) -> "DStream":
        """reduceByKey over a sliding window ``(t - windowDuration, t]``.

        Without ``invFunc`` every window is reduced from its batches. With
        ``invFunc`` (``invFunc(func(x, y), x) == y``) and a window of at least
        five slides, each window is the previous one with the batches that left
        "subtracted" and the new ones added; such a stream needs a checkpoint
        directory. Keys whose value went back to the identity stay (e.g. count
        0) unless ``filterFunc(kv)`` is false for them; ``filterFunc`` is
        applied whenever batches are added."""
        from .window import ReducedWindowedDStream
        self._validate_window_param(windowDuration, slideDuration)
        n = numPartitions or self._sc.defaultParallelism
        reduced = self.reduceByKey(func, n)
        if not invFunc:
            return reduced.window(windowDuration, slideDuration).reduceByKey(func, n)
        if reduced._storage_level is None:
            reduced._set_storage(_MEMORY_ONLY)

        def reduce_func(t: Any, rdds: RDD) -> RDD:
            # a window reduced from its batches (the first ones, or a short window)
            r = rdds.reduceByKey(func, n)
            return r.filter(filterFunc) if filterFunc else r

        def step_func(t: Any, previous: RDD, leaving: list[RDD], entering: list[RDD]) -> RDD:
            # the previous window, the batches that left taken out and those that
            # entered added, in one pass per partition (WindowStepRDD): everything
            # partitioned alike, each key once per partition, as a batch of
            # ``reduced`` already is; several batches are reduced together first
            from .window import WindowStepRDD
            if not leaving and not entering:
                return previous
            if previous.partitioner is None:
                previous = previous.partitionBy(n)
            p = previous.partitioner

            def one(rdds: list[RDD]) -> RDD | None:
                if not rdds:
                    return None
                r = rdds[0] if len(rdds) == 1 else self._sc.union(rdds).reduceByKey(func, n)
                return r if r.partitioner == p else r.partitionBy(p.numPartitions, p.partitionFunc)
            r = WindowStepRDD(previous, one(leaving), one(entering), func, invFunc)
            return r.filter(filterFunc) if filterFunc and entering else r
        return ReducedWindowedDStream(reduced, reduce_func, step_func,
                                      to_ms(windowDuration, "windowDuration"), self._slide_or_own(slideDuration))

    def reduceByWindow(self, reduceFunc: Callable[[Any, Any], Any], invReduceFunc: Callable[[Any, Any], Any] | None,
                       windowDuration: float, slideDuration: float) -> "DStream":
        """One record per window: all its records reduced with ``reduceFunc``
        (incrementally with ``invReduceFunc``, see :meth:`reduceByKeyAndWindow`)."""
        keyed = self.map(lambda x: (1, x))
        reduced = keyed.reduceByKeyAndWindow(reduceFunc, invReduceFunc, windowDuration, slideDuration, 1)
        return reduced.map(lambda kv: kv[1])

    def countByWindow(self, windowDuration: float, slideDuration: float) -> "DStream":
        """One record per window: its number of records. Windows of at
        least five slides are counted incrementally, so once records were seen
        an empty window counts 0; shorter ones yield no record when empty."""
        return self.map(lambda x: 1).reduceByWindow(operator.add, operator.sub, windowDuration, slideDuration)

    def countByValueAndWindow(self, windowDuration: float, slideDuration: float,
                              numPartitions: int | None = None) -> "DStream":
        """``(value, count)`` of the values present in each window."""
        keyed = self.map(lambda x: (x, 1))
        counted = keyed.reduceByKeyAndWindow(operator.add, operator.sub, windowDuration, slideDuration,
                                             numPartitions)
        return counted.filter(lambda kv: kv[1] > 0)

    def groupByKeyAndWindow(self, windowDuration: float, slideDuration: float,
                            numPartitions: int | None = None) -> "DStream":
        """``(key, values)`` per window, values in batch order (a
        :class:`ResultIterable`). With a window of at least five slides (the
        incremental path) a key whose values all left the window stays, with
        no values, as in PySpark."""
        ls = self.mapValues(lambda x: [x])
        grouped = ls.reduceByKeyAndWindow(_concat, _drop_prefix, windowDuration, slideDuration, numPartitions)
        return grouped.mapValues(ResultIterable)

    # ------------------------------------------------------------------ state
    def updateStateByKey(self, updateFunc: Callable[[list, Any], Any], numPartitions: int | None = None,
                         initialRDD: Any = None) -> "DStream":
        """Running state per key. Every batch, ``updateFunc(new_values, state)``
        is called for every key that has new values or a state (keys with a
        state but no new values get ``[]``; new keys get ``state=None``, or
        their ``initialRDD`` value in the first batch); returning None removes
        the key. The state is a new RDD per batch (the previous one is not
        mutated). Needs a checkpoint directory (``ssc.checkpoint(dir)``)."""
        from .state import StateDStream, UpdateStateRDD
        n = numPartitions or self._sc.defaultParallelism
        if initialRDD is not None and not isinstance(initialRDD, RDD):
            initialRDD = self._sc.parallelize(list(initialRDD))

        def reduce_func(t: Any, a: RDD | None, b: RDD) -> RDD:
            # each key's new values, grouped on the map side (in arrival order,
            # then map partition order, as PySpark's groupByKey/cogroup give them)
            new = b.combineByKey(group_create, group_append, group_extend, n)
            if a is not None and a.partitioner != new.partitioner:
                a = a.partitionBy(n)
            return UpdateStateRDD(a, new, updateFunc, new.partitioner)
        return StateDStream(self, reduce_func, initialRDD)

    def mapWithState(self, spec: Any) -> Any:
        """Per-key state with a mapping function, timeouts and an initial
        state; returns the mapped values per batch, and ``stateSnapshots()``
        the full state table. fluvial's counterpart of Scala's
        ``mapWithState``; see :mod:`fluvial.streaming.state` for the
        semantics and an example."""
        from .state import MapWithStateDStream
        return MapWithStateDStream(self, spec)

    # ------------------------------------------------------------------ output
    def foreachRDD(self, func: Callable[..., Any]) -> None:
        """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for every
        batch that has an RDD. Output operations run batch after batch, and
        within a batch in the order they were declared. An exception fails
        the batch and stops the context (see ``awaitTermination``)."""
        if positional_arity(func) == 1:
            func = _drop_time(func)
        ForEachDStream(self, func, "foreachRDD")

    def pprint(self, num: int = 10) -> None:
        """Print the first ``num`` records of every batch, PySpark's layout::

            -------------------------------------------
            Time: 2024-05-01 12:00:01
            -------------------------------------------
            record
            ...            (only when there are more than num records)
            <blank line>
        """
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
        """Save each batch with ``saveAsTextFile`` under ``prefix-<ms>`` or
        ``prefix-<ms>.suffix`` (``<ms>`` the batch time in epoch milliseconds).

        Idempotent, so a batch re-run after a crash leaves exactly one
        complete output: an existing directory is left as is (as PySpark
        does), unless it is an output a crash left incomplete (only
        ``part-*`` files and ``_temporary``, no ``_SUCCESS``): that one is
        removed and written again."""
        def save(t_ms: int, rdd: RDD) -> None:
            path = rdd_to_filename(prefix, suffix, t_ms)
            local = path.removeprefix("file://").removeprefix("file:")
            if os.path.isdir(local):
                names = os.listdir(local)
                if "_SUCCESS" in names or not all(n == "_temporary" or n.startswith("part-") for n in names):
                    return
                shutil.rmtree(local)
            rdd.saveAsTextFile(path)
        ForEachDStream(self, save, "saveAsTextFiles", time_as_ms=True)

    def __repr__(self) -> str:
        return f"<{self._name()}>"


def _drop_time(func: Callable[..., Any]) -> Callable[..., Any]:
    def without_time(_t: Any, *rdds: Any) -> Any:
        return func(*rdds)
    return without_time


def _concat(a: list, b: list) -> list:
    return a + b


def _drop_prefix(a: list, b: list) -> list:
    return a[len(b):]


def _checked(result: Any, stream: DStream) -> RDD | None:
    """A transform function's result: an RDD, or None for no RDD this batch."""
    if result is not None and not isinstance(result, RDD):
        raise TypeError(f"the function of {stream._name()} must return an RDD or None, "
                        f"got {type(result).__name__}")
    return result


def _same_context(a: DStream, b: DStream) -> None:
    if a._ssc is not b._ssc:
        raise ValueError("the two DStreams belong to different StreamingContexts")


class TransformedDStream(DStream):
    """``func(time, rdd)`` applied to each parent RDD. A transform of an
    uncached, uncheckpointed TransformedDStream fuses with it into one
    function (the intermediate stream is then not computed at all)."""

    _function_attrs = ("func",)

    def __init__(self, prev: DStream, func: Callable[[Any, RDD], RDD | None]) -> None:
        if type(prev) is TransformedDStream and not prev.is_cached and not prev.is_checkpointed:
            self.func: Callable[[Any, RDD], RDD | None] = _Composed(func, prev.func)
            self.prev = prev.prev
        else:
            self.func = func
            self.prev = prev
        super().__init__(prev._ssc, [self.prev])

    def _compute(self, t: int) -> RDD | None:
        parent = self.prev._get_or_compute(t)
        if parent is None:
            return None
        return _checked(self.func(batch_datetime(t), parent), self)


class _Composed:
    """``outer(t, inner(t, rdd))``; a None from ``inner`` short-circuits."""

    def __init__(self, outer: Callable, inner: Callable) -> None:
        self.outer, self.inner = outer, inner

    def __call__(self, t: Any, rdd: RDD) -> RDD | None:
        mid = self.inner(t, rdd)
        return None if mid is None else self.outer(t, mid)


class TransformedWithDStream(DStream):
    """``func(time, a, b)`` over two parents; a missing side is an empty RDD."""

    _function_attrs = ("func",)

    def __init__(self, a: DStream, b: DStream, func: Callable[[Any, RDD, RDD], RDD | None]) -> None:
        super().__init__(a._ssc, [a, b], a._slide_ms)
        self.func = func

    def _compute(self, t: int) -> RDD | None:
        a = self._parents[0]._get_or_compute(t)
        b = self._parents[1]._get_or_compute(t)
        return _checked(self.func(batch_datetime(t), a if a is not None else self._sc.emptyRDD(),
                                  b if b is not None else self._sc.emptyRDD()), self)


class ForEachDStream(DStream):
    """An output operation: registers itself with the context's graph. Its
    job for a batch runs ``func(time, rdd)`` on the driver (``time`` a
    datetime, or epoch milliseconds with ``time_as_ms``)."""

    _function_attrs = ("func",)

    def __init__(self, parent: DStream, func: Callable[[Any, RDD], Any], name: str,
                 time_as_ms: bool = False) -> None:
        super().__init__(parent._ssc, [parent])
        self.func = func
        self._time_as_ms = time_as_ms
        self.name = f"{name} at {self._creation_site}"
        self.description = f"{self.name}\n{long_call_site()}"
        self._ssc._graph.add_output_stream(self)

    def _compute(self, t: int) -> RDD | None:
        return None

    def _job_for(self, t: int) -> Callable[[], None] | None:
        """The batch's job, or None when the parent has no RDD for ``t``."""
        rdd = self._parents[0]._get_or_compute(t)
        if rdd is None:
            return None
        when = t if self._time_as_ms else batch_datetime(t)
        func = self.func
        return lambda: func(when, rdd)
