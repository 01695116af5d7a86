"""Transformations of any RDD (key-value ones are in :mod:`fluvial.core.pairs`).

Mixed into :class:`~fluvial.core.rdd.RDD`. Every method returns a new RDD and
runs nothing, except ``zipWithIndex`` (one job counting partition sizes when
there are several partitions) and ``sortBy`` (see ``sortByKey``). Narrow
transformations keep record order within each partition and fuse into one
function per partition.
"""
from __future__ import annotations

import itertools
import operator
import random
import shlex
import subprocess
import threading
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence

from .sampling import BernoulliOrPoissonSampler, RangeSampler
from .shuffle import Partitioner, portable_hash
from .pipeline import RecordStep
from .userfunc import check_positive_int
from .xorshift import start_position


class TransformMixin:
    """Transformations of :class:`~fluvial.core.rdd.RDD`."""

    # ------------------------------------------------------------ narrow
    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator[Any]], Iterable[Any]],
                               preservesPartitioning: bool = False) -> Any:
        """``f(partition_index, records)`` over each partition."""
        from .lineage import PipelinedRDD
        return PipelinedRDD(self, f, preservesPartitioning)

    def mapPartitionsWithSplit(self, f: Callable[[int, Iterator[Any]], Iterable[Any]],
                               preservesPartitioning: bool = False) -> Any:
        """Deprecated alias of ``mapPartitionsWithIndex`` (warns, as PySpark does)."""
        warnings.warn("mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex instead",
                      FutureWarning, stacklevel=2)
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def mapPartitions(self, f: Callable[[Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False) -> Any:
        return self.mapPartitionsWithIndex(lambda _, it: f(it), preservesPartitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> Any:
        from .lineage import PipelinedRDD
        return PipelinedRDD(self, None, preservesPartitioning, (RecordStep("map", f),))

    def flatMap(self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False) -> Any:
        from .lineage import PipelinedRDD
        return PipelinedRDD(self, None, preservesPartitioning, (RecordStep("flatMap", f),))

    def filter(self, f: Callable[[Any], bool]) -> Any:
        from .lineage import PipelinedRDD
        return PipelinedRDD(self, None, True, (RecordStep("filter", f),))

    def glom(self) -> Any:
        """Each partition as one list."""
        return self.mapPartitionsWithIndex(lambda _, it: [list(it)])

    def keyBy(self, f: Callable[[Any], Any]) -> Any:
        return self.map(lambda x: (f(x), x))

    def union(self, other: Any) -> Any:
        """Partitions of ``self`` then of ``other``; both partitioned by an equal
        partitioner: partition i holds both sides' partition i."""
        return self.ctx.union([self, other])

    def __add__(self, other: Any) -> Any:
        from .rdd import RDD
        if not isinstance(other, RDD):
            raise TypeError(f"can only add an RDD to an RDD, not {type(other).__name__}")
        return self.union(other)

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> Any:
        """At most ``numPartitions`` partitions without a shuffle (runs of
        adjacent partitions are concatenated in order; asking for more
        partitions than there are keeps the count), or exactly
        ``numPartitions`` with ``shuffle=True`` (see ``repartition``)."""
        from .lineage import CoalescedRDD
        check_positive_int("numPartitions", numPartitions)
        if shuffle:
            return self.repartition(numPartitions)
        n = self.getNumPartitions()
        target = min(numPartitions, n)
        groups = [list(range(i * n // target, (i + 1) * n // target)) for i in range(target)]
        out = CoalescedRDD(self, groups)
        carried = getattr(self, "_shuffle_batches", None)
        if carried is not None:
            out._shuffle_batches = (carried[0], CoalescedRDD(carried[1], groups))
        return out

    def repartition(self, numPartitions: int) -> Any:
        """Exactly ``numPartitions`` partitions, through one shuffle; records
        land where PySpark 4.3 puts them. Each input partition is cut into
        batches of ``min(10, batchSize or 1024)`` consecutive records (the
        context's ``batchSize``; -1 makes the whole partition one batch) and
        deals its batches round-robin, input partition ``i`` starting at
        output partition ``(XORShiftRandom(i).nextInt(numPartitions) + 1) %
        numPartitions`` (see :mod:`fluvial.core.xorshift`). An output
        partition holds its batches in input-partition order, each batch's
        records in their order.

        The result keeps its batches: repartitioning it again (directly, after
        ``cache``/``persist``/``checkpoint``, or after ``coalesce`` without a
        shuffle) deals those same batches instead of cutting new ones, as
        PySpark does for data it still holds in that serialized form. Any
        other transformation of the result cuts fresh batches."""
        from .lineage import ShuffledRDD
        check_positive_int("numPartitions", numPartitions)
        size = _shuffle_batch_size(self.ctx._batchSize)
        carried = getattr(self, "_shuffle_batches", None)
        if carried is not None and carried[0] == size:
            keyed = carried[1].mapPartitionsWithIndex(_BatchDealer(numPartitions))
        else:
            keyed = self.mapPartitionsWithIndex(_RecordDealer(numPartitions, size))
        batches = ShuffledRDD(keyed, Partitioner(numPartitions, _int_key)).mapPartitions(_second_of_pairs)
        out = batches.mapPartitions(itertools.chain.from_iterable)
        out._shuffle_batches = (size, batches)
        return out

    def zipWithIndex(self) -> Any:
        """Pair each record with its position in ``collect`` order (runs a job to
        count partition sizes when there is more than one partition)."""
        n = self.getNumPartitions()
        starts = [0]
        if n > 1:
            counts = self.mapPartitions(lambda it: [sum(1 for _ in it)]).collect()
            for c in counts[:-1]:
                starts.append(starts[-1] + c)

        def f(split: int, it: Iterator[Any]) -> Iterator[tuple[Any, int]]:
            return zip(it, itertools.count(starts[split]))
        return self.mapPartitionsWithIndex(f)

    def zipWithUniqueId(self) -> Any:
        """Pair the i-th record of partition k with ``i * numPartitions + k``
        (unique, not contiguous; no job)."""
        n = self.getNumPartitions()

        def f(split: int, it: Iterator[Any]) -> Iterator[tuple[Any, int]]:
            return ((x, i * n + split) for i, x in enumerate(it))
        return self.mapPartitionsWithIndex(f)

    def zip(self, other: Any) -> Any:
        """Pair records by position. Both RDDs need the same number of partitions
        (checked now) and of records in each partition (checked when computed)."""
        from .lineage import ZippedRDD
        if self.getNumPartitions() != other.getNumPartitions():
            raise ValueError(f"Can only zip with RDD which has the same number of partitions "
                             f"({self.getNumPartitions()} vs {other.getNumPartitions()})")
        return ZippedRDD(self, other)

    def cartesian(self, other: Any) -> Any:
        """Every pair ``(a, b)``; partition ``i * m + j`` pairs ``self[i]`` with ``other[j]``."""
        from .lineage import CartesianRDD
        return CartesianRDD(self, other)

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> Any:
        """Each record kept with probability ``fraction`` (or repeated a
        Poisson(``fraction``) number of times with replacement). For a given
        seed the choice is deterministic per partition and equal to PySpark's."""
        if not isinstance(fraction, (int, float)) or not fraction >= 0:
            raise ValueError(f"sample: fraction must be nonnegative, got {fraction!r}")
        return self.mapPartitionsWithIndex(BernoulliOrPoissonSampler(withReplacement, fraction, seed).func, True)

    def randomSplit(self, weights: Sequence[float], seed: int | None = None) -> list:
        """Split into RDDs whose sizes are proportional to ``weights``; every
        record lands in exactly one of them (they share one seed)."""
        if not all(w >= 0 for w in weights):
            raise ValueError(f"randomSplit: weights must be nonnegative, got {list(weights)}")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError(f"randomSplit: sum of weights must be positive, got {list(weights)}")
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        if seed is None:
            seed = random.randint(0, 2 ** 32 - 1)
        return [self.mapPartitionsWithIndex(RangeSampler(lo, hi, seed).func, True)
                for lo, hi in zip(bounds, bounds[1:])]

    def pipe(self, command: str, env: dict | None = None, checkCode: bool = False) -> Any:
        """Feed each partition's records (``str`` of each, one per line, UTF-8)
        to ``command`` and return its output lines. ``env`` is the command's
        whole environment (empty by default, as in PySpark). With
        ``checkCode``, a non-zero exit fails the task."""
        argv = shlex.split(command)
        environment = dict(env or {})

        def run(it: Iterator[Any]) -> Iterator[str]:
            proc = subprocess.Popen(argv, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            errors: list[BaseException] = []

            def feed() -> None:
                try:
                    for x in it:
                        proc.stdin.write((str(x).rstrip("\n") + "\n").encode("utf-8"))  # type: ignore[union-attr]
                except BrokenPipeError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - re-raised in the task thread
                    errors.append(exc)
                finally:
                    try:
                        proc.stdin.close()  # type: ignore[union-attr]
                    except BrokenPipeError:
                        pass
            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            for raw in iter(proc.stdout.readline, b""):  # type: ignore[union-attr]
                yield raw.rstrip(b"\n").decode("utf-8")
            feeder.join()
            proc.wait()
            if errors:
                raise errors[0]
            if checkCode and proc.returncode:
                raise RuntimeError(f"Pipe function `{command}` exited with error code {proc.returncode}")
        return self.mapPartitions(run)

    # -------------------------------------------------------------- wide
    def distinct(self, numPartitions: int | None = None) -> Any:
        """Each distinct record once (one shuffle)."""
        return (self.map(lambda x: (x, None))
                .reduceByKey(lambda x, _: x, numPartitions)
                .map(lambda x: x[0]))

    def groupBy(self, f: Callable[[Any], Any], numPartitions: int | None = None,
                partitionFunc: Callable[[Any], int] = portable_hash) -> Any:
        """``(f(x), records with that key)`` pairs; values keep arrival order."""
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def sortBy(self, keyfunc: Callable[[Any], Any], ascending: bool = True,
               numPartitions: int | None = None) -> Any:
        """Records in ``keyfunc`` order; see ``sortByKey`` (runs its sampling jobs)."""
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def intersection(self, other: Any) -> Any:
        """Distinct records present in both RDDs (one shuffle)."""
        return (self.map(lambda v: (v, None))
                .cogroup(other.map(lambda v: (v, None)))
                .filter(lambda k_vs: all(k_vs[1]))
                .keys())

    def subtract(self, other: Any, numPartitions: int | None = None) -> Any:
        """Records of ``self`` not in ``other``, duplicates kept (one shuffle)."""
        rdd = other.map(lambda x: (x, True))
        return self.map(lambda x: (x, True)).subtractByKey(rdd, numPartitions).keys()


def _int_key(k: int) -> int:
    return k


def _shuffle_batch_size(batch_size: int) -> int:
    """Records per batch that ``repartition`` deals, from the context's
    ``batchSize`` (PySpark's ``min(10, batchSize or 1024)``; -1: unlimited)."""
    size = min(10, batch_size or 1024)
    if size < -1:
        raise ValueError(f"repartition: the SparkContext's batchSize must be -1 (unlimited), 0 (automatic) "
                         f"or positive, got {batch_size}")
    return size


class _RecordDealer:
    """Map side of ``repartition``: cuts input partition ``split`` into
    batches of ``size`` records (the whole partition, even empty, when
    ``size`` is -1) and keys the k-th batch (from 0) with
    ``start_position(split, n) + 1 + k``; the shuffle takes that key modulo
    ``n``. Work is per batch; records are moved by ``islice``."""

    __slots__ = ("n", "size")

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size

    def __call__(self, split: int, records: Iterable[Any]) -> Iterator[tuple[int, list]]:
        position = start_position(split, self.n)
        if self.size < 0:
            yield position + 1, list(records)
            return
        it = iter(records)
        size = self.size
        while batch := list(itertools.islice(it, size)):
            position += 1
            yield position, batch


class _BatchDealer:
    """Map side of repartitioning an RDD that still holds ``repartition``
    batches: keys those batches exactly as :class:`_RecordDealer` keys new ones."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, split: int, batches: Iterable[list]) -> Iterator[tuple[int, list]]:
        return zip(itertools.count(start_position(split, self.n) + 1), batches)


def _second_of_pairs(pairs: Iterable[tuple[Any, Any]]) -> Iterator[Any]:
    return map(operator.itemgetter(1), pairs)
