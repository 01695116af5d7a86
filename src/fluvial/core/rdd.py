"""RDD: a lazy, immutable, partitioned collection with lineage.

Transformations build lineage and return new RDDs; nothing runs until an
action. Narrow transformations (map, filter, ...) fuse into one generator
pipeline per partition. Key-value operations are in
:mod:`fluvial.core.pairs`, numeric ones in :mod:`fluvial.core.numeric`; both
are mixed into :class:`RDD`.

Ordering guarantees: within a partition, narrow transformations keep record
order; ``collect`` returns partitions in index order. After a shuffle, the
records of one reduce partition arrive in map-partition order.
"""
from __future__ import annotations

import heapq
import itertools
import os
import pickle
import random
import sys
import weakref
from collections import defaultdict
from functools import reduce as _reduce
from typing import TYPE_CHECKING, Any, Callable, Generic, Hashable, Iterable, Iterator, TypeVar

from .numeric import NumericMixin
from .pairs import PairMixin
from .shuffle import Dependency, Partitioner, portable_hash
from .storage import StorageLevel

if TYPE_CHECKING:
    from .context import SparkContext

T = TypeVar("T")
U = TypeVar("U")
_MISSING = object()


class RDD(PairMixin, NumericMixin, Generic[T]):
    """A Resilient Distributed Dataset. Create one with ``sc.parallelize`` or
    ``sc.textFile``; do not instantiate directly."""

    def __init__(self, ctx: "SparkContext", deps: list[Dependency], num_partitions: int,
                 partitioner: Partitioner | None = None) -> None:
        self.ctx = ctx
        self.id: int = ctx._new_rdd_id()
        self._deps = deps
        self._num_partitions = num_partitions
        self.partitioner = partitioner
        self._storage_level: StorageLevel | None = None
        self._checkpointed = False
        self._checkpoint_requested = False
        self._checkpoint_local = False
        self._checkpoint_path: str | None = None
        self._name: str | None = None

    # ------------------------------------------------------------------ lineage
    def compute(self, split: int, tctx: Any) -> Iterator[T]:
        raise TypeError(f"{type(self).__name__} does not define compute()")

    def iterator(self, split: int, tctx: Any) -> Iterator[T]:
        """Records of partition ``split``: from a stored block when there is one,
        else computed (and stored, when this RDD is persisted)."""
        if self._storage_level is None and not self._checkpointed:
            return iter(self.compute(split, tctx))
        bid = ("rdd", self.id, split)
        data = tctx.inputs.get(bid, _MISSING)
        if data is not _MISSING:
            return iter(data)
        data = list(self.compute(split, tctx))
        tctx.new_blocks[bid] = data
        return iter(data)

    def _own_inputs(self, split: int, inputs: dict, store: Any) -> None:
        """Add the driver-held blocks this RDD itself (not its parents) reads."""

    def _fully_stored(self) -> bool:
        if self._storage_level is None and not self._checkpointed:
            return False
        store = self.ctx._blocks
        return all(("rdd", self.id, s) in store for s in range(self._num_partitions))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if state.get("ctx") is not None and self._fully_stored():
            state["_deps"] = []
        state["ctx"] = None
        return state

    @property
    def context(self) -> "SparkContext":
        return self.ctx

    def getNumPartitions(self) -> int:
        return self._num_partitions

    def name(self) -> str | None:
        return self._name

    def setName(self, name: str) -> "RDD[T]":
        self._name = name
        return self

    def toDebugString(self) -> bytes:
        lines: list[str] = []

        def walk(r: "RDD", depth: int) -> None:
            cached = " [cached]" if r._fully_stored() else ""
            lines.append(f"{'  ' * depth}({r.getNumPartitions()}) {type(r).__name__}[{r.id}]{cached}")
            for d in r._deps:
                walk(d.rdd, depth + 1)
        walk(self, 0)
        return "\n".join(lines).encode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self.id}]"

    # ------------------------------------------------------------- persistence
    def cache(self) -> "RDD[T]":
        return self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> "RDD[T]":  # type: ignore[attr-defined]
        """Keep computed partitions in the driver's block store; later jobs read
        them instead of recomputing the lineage."""
        if self._storage_level is None:
            weakref.finalize(self, self.ctx._blocks.remove_owner, "rdd", self.id)
        self._storage_level = storageLevel
        return self

    def unpersist(self, blocking: bool = False) -> "RDD[T]":
        self._storage_level = None
        if not self._checkpointed:
            self.ctx._blocks.remove_owner("rdd", self.id)
        return self

    def getStorageLevel(self) -> StorageLevel:
        return self._storage_level or StorageLevel.NONE  # type: ignore[attr-defined]

    @property
    def is_cached(self) -> bool:
        return self._storage_level is not None

    def checkpoint(self) -> None:
        """Mark for checkpointing: after the next job that computes this RDD,
        its partitions are written to the context's checkpoint directory and its
        lineage is cut."""
        if self.ctx._checkpoint_dir is None:
            raise RuntimeError("Checkpoint directory has not been set in the SparkContext: "
                               "call sc.setCheckpointDir(dir) first")
        self._checkpoint_requested = True

    def localCheckpoint(self) -> None:
        """Like checkpoint, but the data stays in the driver's block store only."""
        self._checkpoint_requested = True
        self._checkpoint_local = True

    def isCheckpointed(self) -> bool:
        return self._checkpointed and not self._checkpoint_local

    def isLocallyCheckpointed(self) -> bool:
        return self._checkpointed and self._checkpoint_local

    def getCheckpointFile(self) -> str | None:
        return self._checkpoint_path

    def _do_checkpoint(self) -> None:
        """Materialise and cut lineage (called by the context after a job)."""
        if self._checkpointed or not self._checkpoint_requested:
            return
        store = self.ctx._blocks
        missing = [s for s in range(self._num_partitions) if ("rdd", self.id, s) not in store]
        if missing:
            parts = self.ctx._dag.run_job(self, list, missing)
            for s, data in zip(missing, parts):
                store.put(("rdd", self.id, s), data)
        if not self._checkpoint_local:
            path = os.path.join(self.ctx._checkpoint_dir, f"rdd-{self.id}")
            os.makedirs(path, exist_ok=True)
            for s in range(self._num_partitions):
                tmp = os.path.join(path, f".part-{s:05d}.tmp")
                with open(tmp, "wb") as f:
                    pickle.dump(store.get(("rdd", self.id, s)), f, protocol=5)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, os.path.join(path, f"part-{s:05d}"))
            self._checkpoint_path = path
        weakref.finalize(self, store.remove_owner, "rdd", self.id)
        self._checkpointed = True
        self._deps = []

    # ---------------------------------------------------- narrow transformations
    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator[T]], Iterable[U]],
                               preservesPartitioning: bool = False) -> "RDD[U]":
        return PipelinedRDD(self, f, preservesPartitioning)

    def mapPartitionsWithSplit(self, f: Callable[[int, Iterator[T]], Iterable[U]],
                               preservesPartitioning: bool = False) -> "RDD[U]":
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def mapPartitions(self, f: Callable[[Iterator[T]], Iterable[U]],
                      preservesPartitioning: bool = False) -> "RDD[U]":
        return PipelinedRDD(self, lambda _, it: f(it), preservesPartitioning)

    def map(self, f: Callable[[T], U], preservesPartitioning: bool = False) -> "RDD[U]":
        return PipelinedRDD(self, lambda _, it: map(f, it), preservesPartitioning)

    def flatMap(self, f: Callable[[T], Iterable[U]], preservesPartitioning: bool = False) -> "RDD[U]":
        return PipelinedRDD(self, lambda _, it: itertools.chain.from_iterable(map(f, it)),
                            preservesPartitioning)

    def filter(self, f: Callable[[T], bool]) -> "RDD[T]":
        return PipelinedRDD(self, lambda _, it: filter(f, it), True)

    def glom(self) -> "RDD[list[T]]":
        return PipelinedRDD(self, lambda _, it: [list(it)])

    def keyBy(self, f: Callable[[T], U]) -> "RDD[tuple[U, T]]":
        return self.map(lambda x: (f(x), x))

    def union(self, other: "RDD[U]") -> "RDD[T | U]":
        return self.ctx.union([self, other])

    def __add__(self, other: "RDD[U]") -> "RDD[T | U]":
        if not isinstance(other, RDD):
            raise TypeError(f"can only add an RDD to an RDD, not {type(other).__name__}")
        return self.union(other)

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> "RDD[T]":
        """Fewer partitions without a shuffle (adjacent partitions are merged in
        order), or any number with ``shuffle=True``."""
        _check_positive("numPartitions", numPartitions)
        if shuffle:
            return self.repartition(numPartitions)
        n = self.getNumPartitions()
        if numPartitions >= n:
            return self
        groups = [list(range(i * n // numPartitions, (i + 1) * n // numPartitions))
                  for i in range(numPartitions)]
        return CoalescedRDD(self, groups)

    def repartition(self, numPartitions: int) -> "RDD[T]":
        """Exactly ``numPartitions`` partitions, records spread round-robin through a shuffle."""
        _check_positive("numPartitions", numPartitions)

        def spread(split: int, it: Iterator[T]) -> Iterator[tuple[int, T]]:
            return zip(itertools.count(split), it)
        keyed = self.mapPartitionsWithIndex(spread)
        return ShuffledRDD(keyed, Partitioner(numPartitions, _int_key)).values()

    def zipWithIndex(self) -> "RDD[tuple[T, int]]":
        """Pair each record with its global index (runs a job to count partitions
        when there is more than one)."""
        n = self.getNumPartitions()
        starts = [0]
        if n > 1:
            counts = self.mapPartitions(lambda it: [sum(1 for _ in it)]).collect()
            for c in counts[:-1]:
                starts.append(starts[-1] + c)

        def f(split: int, it: Iterator[T]) -> Iterator[tuple[T, int]]:
            return zip(it, itertools.count(starts[split]))
        return self.mapPartitionsWithIndex(f)

    def zipWithUniqueId(self) -> "RDD[tuple[T, int]]":
        n = self.getNumPartitions()

        def f(split: int, it: Iterator[T]) -> Iterator[tuple[T, int]]:
            return ((x, i * n + split) for i, x in enumerate(it))
        return self.mapPartitionsWithIndex(f)

    def zip(self, other: "RDD[U]") -> "RDD[tuple[T, U]]":
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError(f"zip needs the same number of partitions on both sides "
                             f"({self.getNumPartitions()} vs {other.getNumPartitions()})")
        return ZippedRDD(self, other)

    def cartesian(self, other: "RDD[U]") -> "RDD[tuple[T, U]]":
        return CartesianRDD(self, other)

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> "RDD[T]":
        """A random sample; deterministic per partition for a given seed."""
        if fraction < 0:
            raise ValueError(f"sample: fraction must be >= 0, got {fraction}")
        if not withReplacement and fraction > 1:
            raise ValueError(f"sample without replacement: fraction must be <= 1, got {fraction}")
        base = random.randrange(sys.maxsize) if seed is None else seed

        def f(split: int, it: Iterator[T]) -> Iterator[T]:
            rng = random.Random(base ^ (split * 0x9E3779B1))
            if withReplacement:
                for x in it:
                    for _ in range(_poisson(rng, fraction)):
                        yield x
            else:
                for x in it:
                    if rng.random() < fraction:
                        yield x
        return self.mapPartitionsWithIndex(f, True)

    def randomSplit(self, weights: list[float], seed: int | None = None) -> list["RDD[T]"]:
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"randomSplit: weights must be non-negative with a positive sum, got {weights}")
        total = float(sum(weights))
        bounds = list(itertools.accumulate(w / total for w in weights))
        bounds = [0.0] + bounds[:-1] + [1.0]
        base = random.randrange(sys.maxsize) if seed is None else seed

        def part(lo: float, hi: float) -> Callable[[int, Iterator[T]], Iterator[T]]:
            def f(split: int, it: Iterator[T]) -> Iterator[T]:
                rng = random.Random(base ^ (split * 0x9E3779B1))
                for x in it:
                    r = rng.random()
                    if lo <= r < hi:
                        yield x
            return f
        return [self.mapPartitionsWithIndex(part(lo, hi), True) for lo, hi in zip(bounds, bounds[1:])]

    def pipe(self, command: str, env: dict | None = None, checkCode: bool = False) -> "RDD[str]":
        """Feed each partition's records, one per line, to a shell command and
        return its output lines."""
        import shlex
        import subprocess

        def f(it: Iterator[T]) -> Iterator[str]:
            data = "".join(f"{x}\n" for x in it).encode()
            proc = subprocess.run(shlex.split(command), input=data, capture_output=True,
                                  env={**os.environ, **(env or {})})
            if checkCode and proc.returncode:
                raise RuntimeError(f"pipe: command {command!r} exited with status {proc.returncode}: "
                                   f"{proc.stderr.decode(errors='replace').strip()}")
            return iter(proc.stdout.decode().splitlines())
        return self.mapPartitions(f)

    # ------------------------------------------------------ wide transformations
    def distinct(self, numPartitions: int | None = None) -> "RDD[T]":
        return (self.map(lambda x: (x, None))
                .reduceByKey(lambda x, _: x, numPartitions)
                .map(lambda x: x[0]))

    def groupBy(self, f: Callable[[T], U], numPartitions: int | None = None,
                partitionFunc: Callable[[Any], int] = portable_hash) -> "RDD[tuple[U, Any]]":
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def sortBy(self, keyfunc: Callable[[T], Any], ascending: bool = True,
               numPartitions: int | None = None) -> "RDD[T]":
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def intersection(self, other: "RDD[T]") -> "RDD[T]":
        return (self.map(lambda v: (v, None))
                .cogroup(other.map(lambda v: (v, None)))
                .filter(lambda k_vs: all(k_vs[1]))
                .keys())

    def subtract(self, other: "RDD[T]", numPartitions: int | None = None) -> "RDD[T]":
        rdd = other.map(lambda x: (x, True))
        return self.map(lambda x: (x, True)).subtractByKey(rdd, numPartitions).keys()

    # ----------------------------------------------------------------- actions
    def _run(self, func: Callable[[Iterator[T]], Any], partitions: Iterable[int] | None = None) -> list:
        return self.ctx.runJob(self, func, partitions)

    def collect(self) -> list[T]:
        return list(itertools.chain.from_iterable(self._run(list)))

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator[T]:
        for split in range(self.getNumPartitions()):
            yield from self._run(list, [split])[0]

    def count(self) -> int:
        return sum(self._run(lambda it: sum(1 for _ in it)))

    def foreach(self, f: Callable[[T], None]) -> None:
        def run(it: Iterator[T]) -> None:
            for x in it:
                f(x)
        self._run(run)

    def foreachPartition(self, f: Callable[[Iterator[T]], None]) -> None:
        def run(it: Iterator[T]) -> None:
            r = f(it)
            if r is not None and hasattr(r, "__next__"):
                for _ in r:
                    pass
        self._run(run)

    def reduce(self, f: Callable[[T, T], T]) -> T:
        """Reduce with a commutative, associative ``f``; raises ValueError on an empty RDD."""
        def part(it: Iterator[T]) -> list[T]:
            it = iter(it)
            first = next(it, _MISSING)
            return [] if first is _MISSING else [_reduce(f, it, first)]
        vals = [v for r in self._run(part) for v in r]
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(f, vals)

    def treeReduce(self, f: Callable[[T, T], T], depth: int = 2) -> T:
        if depth < 1:
            raise ValueError(f"treeReduce: depth must be >= 1, got {depth}")
        return self.reduce(f)

    def fold(self, zeroValue: T, op: Callable[[T, T], T]) -> T:
        import copy
        vals = self._run(lambda it: _reduce(op, it, copy.deepcopy(zeroValue)))
        return _reduce(op, vals, zeroValue)

    def aggregate(self, zeroValue: U, seqOp: Callable[[U, T], U], combOp: Callable[[U, U], U]) -> U:
        import copy
        vals = self._run(lambda it: _reduce(seqOp, it, copy.deepcopy(zeroValue)))
        return _reduce(combOp, vals, zeroValue)

    def treeAggregate(self, zeroValue: U, seqOp: Callable[[U, T], U], combOp: Callable[[U, U], U],
                      depth: int = 2) -> U:
        if depth < 1:
            raise ValueError(f"treeAggregate: depth must be >= 1, got {depth}")
        return self.aggregate(zeroValue, seqOp, combOp)

    def take(self, num: int) -> list[T]:
        """The first ``num`` records in partition order, scanning as few
        partitions as it can (one, then four times more each round)."""
        items: list[T] = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            n_parts = 1
            if scanned > 0:
                if not items:
                    n_parts = scanned * 4
                else:
                    n_parts = max(int(1.5 * num * scanned / len(items)) - scanned, 1)
                    n_parts = min(n_parts, scanned * 4)
            left = num - len(items)
            parts = range(scanned, min(scanned + n_parts, total))
            for chunk in self._run(lambda it: list(itertools.islice(it, left)), parts):
                items.extend(chunk)
            scanned += n_parts
        return items[:num]

    def first(self) -> T:
        rs = self.take(1)
        if rs:
            return rs[0]
        raise ValueError("RDD is empty")

    def isEmpty(self) -> bool:
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def top(self, num: int, key: Callable[[T], Any] | None = None) -> list[T]:
        parts = self._run(lambda it: heapq.nlargest(num, it, key=key))
        return heapq.nlargest(num, itertools.chain.from_iterable(parts), key=key)

    def takeOrdered(self, num: int, key: Callable[[T], Any] | None = None) -> list[T]:
        parts = self._run(lambda it: heapq.nsmallest(num, it, key=key))
        return heapq.nsmallest(num, itertools.chain.from_iterable(parts), key=key)

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list[T]:
        if num < 0:
            raise ValueError(f"takeSample: sample size cannot be negative, got {num}")
        data = self.collect()
        rng = random.Random(seed)
        if withReplacement:
            return [rng.choice(data) for _ in range(num)] if data else []
        rng.shuffle(data)
        return data[:num]

    def countByValue(self) -> dict[T, int]:
        def count(it: Iterator[T]) -> dict:
            d: dict = defaultdict(int)
            for x in it:
                d[x] += 1
            return d
        total: dict = defaultdict(int)
        for d in self._run(count):
            for k, v in d.items():
                total[k] += v
        return total

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        return self.count()

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        if relativeSD < 0.000017:
            raise ValueError(f"countApproxDistinct: relativeSD should be at least 0.000017, got {relativeSD}")
        return self.map(lambda x: portable_hash(x)).distinct().count()

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write one ``part-NNNNN`` file per partition (``str`` of each record,
        one per line) and a ``_SUCCESS`` marker. Fails if ``path`` exists."""
        from .files import save_as_text_file
        save_as_text_file(self, path, compressionCodecClass)

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        from .files import save_as_pickle_file
        save_as_pickle_file(self, path)

    def cleanShuffleDependencies(self, blocking: bool = False) -> None:
        """Drop the stored map output of the shuffles this RDD reads directly."""
        from .shuffle import ShuffleDependency
        for dep in self._deps:
            if isinstance(dep, ShuffleDependency):
                self.ctx._blocks.remove_owner("shuffle", dep.shuffle_id)


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _int_key(k: int) -> int:
    return k


def _poisson(rng: random.Random, lam: float) -> int:
    import math
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


from .lineage import (CartesianRDD, CoalescedRDD, PipelinedRDD, ShuffledRDD,  # noqa: E402
                      ZippedRDD)
