"""Actions: operations that run a job and bring a result to the driver.

Mixed into :class:`~fluvial.core.rdd.RDD`. Every action runs at least one job
through the context's scheduler; results follow partition order (partition 0
first, records within a partition in order) unless stated otherwise. An
exception raised by user code in a task fails the action with that exception.

Actions that PySpark defines as "per-partition value, then ``reduce``"
(``countByValue``, ``top``, ``stats``, ...) raise ``ValueError`` on an RDD with
no partitions at all, as PySpark's do.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
import warnings
from collections import defaultdict
from functools import reduce as _reduce
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .sampling import MAX_SAMPLE_SIZE, fraction_for_sample_size
from .userfunc import fail_on_stopiteration

T = TypeVar("T")
U = TypeVar("U")
_MISSING = object()


class ActionMixin:
    """Actions of :class:`~fluvial.core.rdd.RDD`."""

    # ------------------------------------------------------------- helpers
    def _run(self, func: Callable[[Iterator[Any]], Any], partitions: Iterable[int] | None = None) -> list:
        """One result per requested partition, in the order requested."""
        return self.ctx._run_job(self, func, partitions)

    def _reduce_partitions(self, part: Callable[[Iterator[Any]], Any], merge: Callable[[Any, Any], Any]) -> Any:
        values = self._run(part)
        if not values:
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(merge, values)

    # ------------------------------------------------------------ collecting
    def collect(self) -> list:
        """Every record, partition 0 first."""
        return list(itertools.chain.from_iterable(self._run(list)))

    def collectWithJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> list:
        """``collect`` run as a job of group ``groupId`` (deprecated in PySpark;
        prefer ``setJobGroup``)."""
        warnings.warn("Deprecated in 3.1, Use pyspark.InheritableThread with the pinned thread mode enabled.",
                      FutureWarning, stacklevel=2)
        with self.ctx._jobs.job_group(groupId, description, interruptOnCancel):
            return self.collect()

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator:
        """Records in ``collect`` order, computing one partition per job, so the
        driver holds at most one partition at a time."""
        for split in range(self.getNumPartitions()):
            yield from self._run(list, [split])[0]

    def count(self) -> int:
        return sum(self._run(_count_iter))

    def foreach(self, f: Callable[[Any], None]) -> None:
        """Apply ``f`` to every record in the tasks (for side effects)."""
        def run(it: Iterator) -> None:
            for x in it:
                f(x)
        self._run(run)

    def foreachPartition(self, f: Callable[[Iterator[Any]], Any]) -> None:
        """Apply ``f`` to each partition's iterator; an iterable it returns is
        consumed (so generator functions run to completion)."""
        def run(it: Iterator) -> None:
            r = f(it)
            if r is not None:
                try:
                    for _ in r:
                        pass
                except TypeError:
                    pass
        self._run(run)

    # ------------------------------------------------------------- reducing
    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        """Reduce with a commutative, associative ``f``; ValueError on an empty RDD."""
        def part(it: Iterator) -> list:
            it = iter(it)
            first = next(it, _MISSING)
            return [] if first is _MISSING else [_reduce(f, it, first)]
        vals = [v for r in self._run(part) for v in r]
        if not vals:
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(fail_on_stopiteration(f), vals)

    def treeReduce(self, f: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        """``reduce`` combining partition results in a tree of ``depth`` levels."""
        _check_depth(depth)

        def op(x: tuple, y: tuple) -> tuple:
            if x[1]:
                return y
            if y[1]:
                return x
            return f(x[0], y[0]), False
        value, empty = self.map(lambda x: (x, False)).treeAggregate((None, True), op, op, depth)
        if empty:
            raise ValueError("Cannot reduce empty RDD.")
        return value

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        """Fold each partition from a copy of ``zeroValue``, then fold the
        partition results from ``zeroValue`` in partition order."""
        vals = self._run(lambda it: _reduce(op, it, copy.deepcopy(zeroValue)))
        return _reduce(fail_on_stopiteration(op), vals, zeroValue)

    def aggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any], combOp: Callable[[Any, Any], Any]) -> Any:
        """``seqOp`` over each partition from a copy of ``zeroValue``, then
        ``combOp`` over the partition results from ``zeroValue``."""
        vals = self._run(lambda it: _reduce(seqOp, it, copy.deepcopy(zeroValue)))
        return _reduce(fail_on_stopiteration(combOp), vals, zeroValue)

    def treeAggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any], combOp: Callable[[Any, Any], Any],
                      depth: int = 2) -> Any:
        """``aggregate`` whose partition results are combined in rounds of
        shuffles (about ``depth`` levels) before the final combine in the driver."""
        _check_depth(depth)
        if self.getNumPartitions() == 0:
            return zeroValue
        combOp = fail_on_stopiteration(combOp)
        partial = self.mapPartitions(lambda it: [_reduce(seqOp, it, copy.deepcopy(zeroValue))])
        n: float = partial.getNumPartitions()
        scale = max(int(math.ceil(math.pow(n, 1.0 / depth))), 2)
        while n > scale + n / scale:
            n /= scale
            cur = int(n)

            def key_by_slot(i: int, it: Iterator, _cur: int = cur) -> Iterator[tuple[int, Any]]:
                return ((i % _cur, x) for x in it)
            partial = partial.mapPartitionsWithIndex(key_by_slot).reduceByKey(combOp, cur).values()
        return partial.fold(zeroValue, combOp)

    # --------------------------------------------------------------- taking
    def take(self, num: int) -> list:
        """The first ``num`` records in ``collect`` order, scanning one partition
        first and then more partitions per round (at most four times as many as
        already scanned) until enough are found."""
        items: list = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            n_parts = 1
            if scanned > 0:
                if not items:
                    n_parts = scanned * 4
                else:
                    n_parts = int(1.5 * num * scanned / len(items)) - scanned
                    n_parts = min(max(n_parts, 1), scanned * 4)
            left = num - len(items)
            parts = range(scanned, min(scanned + n_parts, total))
            for chunk in self._run(lambda it: list(itertools.islice(it, left)), parts):
                items.extend(chunk)
            scanned += n_parts
        return items[:num]

    def first(self) -> Any:
        """The first record; ValueError when the RDD is empty."""
        rs = self.take(1)
        if rs:
            return rs[0]
        raise ValueError("RDD is empty")

    def isEmpty(self) -> bool:
        """True when no partition has a record (scans as few partitions as ``take(1)``)."""
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def top(self, num: int, key: Callable[[Any], Any] | None = None) -> list:
        """The ``num`` largest records, largest first."""
        return self._reduce_partitions(lambda it: heapq.nlargest(num, it, key=key),
                                       lambda a, b: heapq.nlargest(num, a + b, key=key))

    def takeOrdered(self, num: int, key: Callable[[Any], Any] | None = None) -> list:
        """The ``num`` smallest records, smallest first."""
        if num < 0:
            raise ValueError(f"takeOrdered: num (top N) cannot be negative, got {num}")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        return self._reduce_partitions(lambda it: heapq.nsmallest(num, it, key=key),
                                       lambda a, b: heapq.nsmallest(num, a + b, key=key))

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list:
        """``num`` records chosen at random (fewer only when sampling without
        replacement from a smaller RDD), in random order.

        Counts the RDD, samples with a fraction chosen so that one pass almost
        always yields enough records (resampling with new seeds otherwise), then
        shuffles and truncates with ``random.Random(seed)``."""
        if num < 0:
            raise ValueError(f"takeSample: num (sample size) cannot be negative, got {num}")
        if num > MAX_SAMPLE_SIZE:
            raise ValueError(f"takeSample: num (sample size) cannot be greater than {MAX_SAMPLE_SIZE}, got {num}")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= total:
            samples = self.collect()
            rng.shuffle(samples)
            return samples
        fraction = fraction_for_sample_size(num, total, withReplacement)
        samples = self.sample(withReplacement, fraction, seed).collect()
        while len(samples) < num:
            samples = self.sample(withReplacement, fraction, rng.randint(0, 2 ** 63 - 1)).collect()
        rng.shuffle(samples)
        return samples[:num]

    # ------------------------------------------------------------- counting
    def countByValue(self) -> dict:
        """``{record: occurrences}`` (a ``defaultdict(int)``)."""
        def count(it: Iterator) -> dict:
            d: dict = defaultdict(int)
            for x in it:
                d[x] += 1
            return d

        def merge(a: dict, b: dict) -> dict:
            for k, v in b.items():
                a[k] += v
            return a
        return self._reduce_partitions(count, merge)

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The exact count: fluvial's jobs always finish, so the answer within
        ``timeout`` milliseconds is the complete one."""
        _check_confidence(confidence)
        return int(self.mapPartitions(lambda it: [float(_count_iter(it))]).sumApprox(timeout, confidence))

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """Approximate number of distinct records (HyperLogLog over the records'
        32-bit ``portable_hash``), with relative standard deviation about
        ``relativeSD``; no shuffle, one small sketch per partition."""
        from .hll import HyperLogLog, precision_for
        if not isinstance(relativeSD, (int, float)) or relativeSD < 0.000017:
            raise ValueError(f"countApproxDistinct: relativeSD should be greater than 0.000017, got {relativeSD!r}")
        p = precision_for(relativeSD)
        sketches = self._run(lambda it: HyperLogLog(p).add_all(it))
        total = HyperLogLog(p)
        for s in sketches:
            total.merge(s)
        return total.estimate()

    # ---------------------------------------------------------------- saving
    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write one ``part-NNNNN`` file per partition (``str`` of each record,
        UTF-8, one per line; bytes records as they are) and a ``_SUCCESS``
        marker. Fails with ``FileExistsError`` if ``path`` exists; a failed job
        leaves no output directory."""
        from .files import save_as_text_file
        save_as_text_file(self, path, compressionCodecClass)

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """Write the records as pickled batches, one ``part-NNNNN`` file per
        partition; ``sc.pickleFile(path)`` reads them back in order."""
        from .files import save_as_pickle_file
        if not isinstance(batchSize, int) or batchSize < 0:
            raise ValueError(f"batchSize must be a non-negative integer, got {batchSize!r}")
        save_as_pickle_file(self, path, batchSize or 1024)


def _count_iter(it: Iterable) -> int:
    return sum(1 for _ in it)


def _check_depth(depth: int) -> None:
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"Depth cannot be smaller than 1 but got {depth!r}.")


def _check_confidence(confidence: float) -> None:
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence!r}")
