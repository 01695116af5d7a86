"""Key-value operations, mixed into :class:`~fluvial.core.rdd.RDD`.

Every keyed operation is: combine within each partition, shuffle by key
(skipped when the RDD is already partitioned by an equal partitioner), merge
within each reduce partition. Keys reach the same partitions as in PySpark
(``portable_hash(key) % numPartitions``), and grouped values keep their order
of arrival: partition order, then record order.
"""
from __future__ import annotations

import bisect
import copy
from typing import Any, Callable, Iterable, Iterator

from .resultiterable import ResultIterable
from .pipeline import CombineStep, group_append, group_create, group_extend
from .shuffle import Partitioner, identity, portable_hash


class PairMixin:
    """Operations on RDDs of ``(key, value)`` pairs."""

    def _defaultReducePartitions(self) -> int:
        if self.ctx._conf.contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return self.getNumPartitions()

    def _resolve_partitions(self, numPartitions: int | None) -> int:
        if numPartitions is None:
            return self._defaultReducePartitions()
        if not isinstance(numPartitions, int) or numPartitions <= 0:
            raise ValueError(f"numPartitions must be a positive integer, got {numPartitions!r}")
        return numPartitions

    def keys(self) -> Any:
        return self.map(lambda kv: kv[0])

    def values(self) -> Any:
        return self.map(lambda kv: kv[1])

    def mapValues(self, f: Callable[[Any], Any]) -> Any:
        return self.mapPartitions(lambda it: ((k, f(v)) for k, v in it), True)

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> Any:
        return self.mapPartitions(lambda it: ((k, x) for k, v in it for x in f(v)), True)

    def partitionBy(self, numPartitions: int | None, partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        """Shuffle so that key k lands in partition ``partitionFunc(k) % numPartitions``."""
        from .lineage import ShuffledRDD
        partitioner = Partitioner(self._resolve_partitions(numPartitions), partitionFunc)
        if self.partitioner == partitioner:
            return self
        return ShuffledRDD(self, partitioner)

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable, mergeCombiners: Callable,
                     numPartitions: int | None = None, partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        """Generic per-key aggregation with map-side combining. When this RDD
        is already partitioned that way, each key lives in one partition: the
        map-side combine is the whole aggregation (no shuffle, no second pass)."""
        n = self._resolve_partitions(numPartitions)
        from .lineage import PipelinedRDD
        local = PipelinedRDD(self, None, True, (CombineStep(createCombiner, mergeValue),))
        shuffled = local.partitionBy(n, partitionFunc)
        if shuffled is local:
            return local
        return PipelinedRDD(shuffled, None, True, (CombineStep(identity, mergeCombiners),))

    def reduceByKey(self, func: Callable[[Any, Any], Any], numPartitions: int | None = None,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        return self.combineByKey(identity, func, func, numPartitions, partitionFunc)

    def reduceByKeyLocally(self, func: Callable[[Any, Any], Any]) -> dict:
        from .lineage import PipelinedRDD
        combined = PipelinedRDD(self, None, True, (CombineStep(identity, func),))
        merged: dict = {}
        for d in combined._run(dict):
            for k, v in d.items():
                merged[k] = func(merged[k], v) if k in merged else v
        return merged

    def aggregateByKey(self, zeroValue: Any, seqFunc: Callable, combFunc: Callable,
                       numPartitions: int | None = None, partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        return self.combineByKey(lambda v: seqFunc(copy.deepcopy(zeroValue), v), seqFunc, combFunc,
                                 numPartitions, partitionFunc)

    def foldByKey(self, zeroValue: Any, func: Callable, numPartitions: int | None = None,
                  partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        return self.combineByKey(lambda v: func(copy.deepcopy(zeroValue), v), func, func,
                                 numPartitions, partitionFunc)

    def groupByKey(self, numPartitions: int | None = None, partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        """Values of each key as a :class:`ResultIterable`, in arrival order."""
        return self.combineByKey(group_create, group_append, group_extend, numPartitions,
                                 partitionFunc).mapValues(ResultIterable)

    def countByKey(self) -> dict:
        return self.map(lambda kv: kv[0]).countByValue()

    def cogroup(self, other: Any, numPartitions: int | None = None) -> Any:
        return _cogroup((self, other), numPartitions)

    def groupWith(self, other: Any, *others: Any) -> Any:
        return _cogroup((self, other) + others, None)

    def join(self, other: Any, numPartitions: int | None = None) -> Any:
        return _join(self, other, numPartitions, False, False)

    def leftOuterJoin(self, other: Any, numPartitions: int | None = None) -> Any:
        return _join(self, other, numPartitions, False, True)

    def rightOuterJoin(self, other: Any, numPartitions: int | None = None) -> Any:
        return _join(self, other, numPartitions, True, False)

    def fullOuterJoin(self, other: Any, numPartitions: int | None = None) -> Any:
        return _join(self, other, numPartitions, True, True)

    def subtractByKey(self, other: Any, numPartitions: int | None = None) -> Any:
        return (self.cogroup(other, numPartitions)
                .filter(lambda kv: len(kv[1][0]) > 0 and len(kv[1][1]) == 0)
                .flatMapValues(lambda vs: vs[0]))

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable[[Any], Any] = lambda x: x) -> Any:
        """Total order by ``keyfunc(key)``: range-partitioned on sampled bounds,
        each partition sorted (stable)."""
        n = self._resolve_partitions(numPartitions)

        def sort_part(it: Iterator) -> list:
            return sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)
        if n == 1:
            src = self.coalesce(1) if self.getNumPartitions() > 1 else self
            return src.mapPartitions(sort_part, True)
        size = self.count()
        if not size:
            return self
        fraction = min(n * 20.0 / size, 1.0)
        samples = sorted(self.sample(False, fraction, 1).map(lambda kv: keyfunc(kv[0])).collect())
        if not samples:
            samples = sorted(self.map(lambda kv: keyfunc(kv[0])).collect())
        bounds = [samples[int(len(samples) * (i + 1) / n)] for i in range(n - 1)]

        def range_partition(k: Any) -> int:
            p = bisect.bisect_left(bounds, keyfunc(k))
            return p if ascending else n - 1 - p
        return self.partitionBy(n, range_partition).mapPartitions(sort_part, True)

    def repartitionAndSortWithinPartitions(self, numPartitions: int | None = None,
                                           partitionFunc: Callable[[Any], int] = portable_hash,
                                           ascending: bool = True,
                                           keyfunc: Callable[[Any], Any] = lambda x: x) -> Any:
        def sort_part(it: Iterator) -> list:
            return sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)
        return self.partitionBy(numPartitions, partitionFunc).mapPartitions(sort_part, True)

    def lookup(self, key: Any) -> list:
        """Values for ``key``; reads only the key's partition when the RDD has a partitioner."""
        values = self.filter(lambda kv: kv[0] == key).values()
        if self.partitioner is not None and self.ctx._driver_hash_matches_workers:
            return values._run(list, [self.partitioner(key)])[0]
        return values.collect()

    def collectAsMap(self) -> dict:
        return dict(self.collect())

    def sampleByKey(self, withReplacement: bool, fractions: dict, seed: int | None = None) -> Any:
        """Sample each key's records with its own fraction (same draws as
        PySpark for a given seed and partitioning); a key missing from
        ``fractions`` fails the task with KeyError."""
        from .sampling import StratifiedSampler
        for k, f in fractions.items():
            if not f >= 0:
                raise ValueError(f"sampleByKey: fractions must be nonnegative, got {f!r} for key {k!r}")
        return self.mapPartitionsWithIndex(StratifiedSampler(withReplacement, fractions, seed).func, True)


def _cogroup(rdds: tuple, numPartitions: int | None) -> Any:
    n = len(rdds)

    def tagger(i: int) -> Callable:
        return lambda it: ((k, (i, v)) for k, v in it)
    tagged = [r.mapPartitions(tagger(i), True) for i, r in enumerate(rdds)]
    union = rdds[0].ctx.union(tagged)

    def split(tagged_values: Iterable) -> tuple:
        bufs: list[list] = [[] for _ in range(n)]
        for i, v in tagged_values:
            bufs[i].append(v)
        return tuple(ResultIterable(b) for b in bufs)
    return union.groupByKey(numPartitions).mapValues(split)


def _join(a: Any, b: Any, numPartitions: int | None, keep_left_missing: bool, keep_right_missing: bool) -> Any:
    left = a.mapPartitions(lambda it: ((k, (1, v)) for k, v in it), True)
    right = b.mapPartitions(lambda it: ((k, (2, v)) for k, v in it), True)

    def dispatch(seq: Iterable) -> Iterator:
        vbuf, wbuf = [], []
        for side, v in seq:
            (vbuf if side == 1 else wbuf).append(v)
        if keep_right_missing and not wbuf:
            wbuf.append(None)
        if keep_left_missing and not vbuf:
            vbuf.append(None)
        return ((v, w) for v in vbuf for w in wbuf)
    return a.ctx.union([left, right]).groupByKey(numPartitions).flatMapValues(dispatch)


__all__ = ["PairMixin"]
