"""Numeric actions, mixed into :class:`~fluvial.core.rdd.RDD`.

Like PySpark, ``stats`` (and so ``mean``, ``variance``, ...), ``max``,
``min`` and ``histogram`` raise ``ValueError`` on an RDD without partitions;
``max``/``min`` also on one without records.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable, Sequence

from .statcounter import StatCounter


class BoundedFloat(float):
    """A float result of an approximate action, with its confidence and bounds."""

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> "BoundedFloat":
        obj = float.__new__(cls, mean)
        obj.confidence = confidence
        obj.low = low
        obj.high = high
        return obj


def _is_missing(x: Any) -> bool:
    return x is None or (type(x) is float and math.isnan(x))


class NumericMixin:
    def sum(self) -> Any:
        """Sum of the per-partition sums, starting from 0."""
        return sum(self._run(lambda it: sum(it)), 0)

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The exact sum as a float, with confidence 1.0 and equal bounds (jobs
        always complete in fluvial, so the answer within ``timeout`` is final)."""
        total = float(sum(self._run(lambda it: float(sum(it)))))
        return BoundedFloat(total, 1.0, total, total)

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The exact mean (as ``sumApprox``); NaN for an empty RDD."""
        st = self.map(float).stats()
        m = st.mean() if st.count() else float("nan")
        return BoundedFloat(m, 1.0, m, m)

    def max(self, key: Callable[[Any], Any] | None = None) -> Any:
        if key is None:
            return self.reduce(max)
        return self.reduce(lambda a, b: max(a, b, key=key))

    def min(self, key: Callable[[Any], Any] | None = None) -> Any:
        if key is None:
            return self.reduce(min)
        return self.reduce(lambda a, b: min(a, b, key=key))

    def stats(self) -> StatCounter:
        """Count, mean, variance, min and max in one job."""
        return self._reduce_partitions(lambda it: StatCounter(it), lambda a, b: a.mergeStats(b))

    def mean(self) -> float:
        return self.stats().mean()

    def variance(self) -> float:
        return self.stats().variance()

    def stdev(self) -> float:
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        return self.stats().sampleStdev()

    def histogram(self, buckets: int | Sequence[Any]) -> tuple[Sequence[Any], list[int]]:
        """Counts per bucket, ignoring None and NaN records and records outside
        the edges.

        ``buckets`` is a number of evenly spaced buckets between the minimum and
        maximum (edges are ints when the spacing is integral), or a sorted list
        or tuple of at least two distinct edges. Buckets are half-open
        ``[a, b)`` except the last, which includes its upper edge. Returns the
        edges (the given sequence itself when one was given) and the counts."""
        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError(f"histogram: number of buckets must be >= 1, got {buckets}")
            return self._even_histogram(buckets)
        if not isinstance(buckets, (list, tuple)):
            raise TypeError(f"histogram: buckets should be a list or tuple or number (int), "
                            f"got {type(buckets).__name__}")
        if len(buckets) < 2:
            raise ValueError(f"histogram: buckets should have more than one value, got {list(buckets)!r}")
        if any(_is_missing(b) or (isinstance(b, float) and math.isnan(b)) for b in buckets):
            raise ValueError(f"histogram: can not have None or NaN in buckets, got {list(buckets)!r}")
        if sorted(buckets) != list(buckets):
            raise ValueError(f"histogram: buckets should be sorted, got {list(buckets)!r}")
        if len(set(buckets)) != len(buckets):
            raise ValueError(f"histogram: buckets should not contain duplicated values, got {list(buckets)!r}")
        inc = None
        try:
            steps = [b - a for a, b in zip(buckets, buckets[1:])]
        except TypeError:
            pass
        else:
            if max(steps) - min(steps) < 1e-10:
                inc = (buckets[-1] - buckets[0]) / (len(buckets) - 1)
        return buckets, self._count_buckets(buckets, inc)

    def _even_histogram(self, n: int) -> tuple[list[Any], list[int]]:
        def minmax(it: Any) -> list:
            lo = hi = None
            for x in it:
                if _is_missing(x):
                    continue
                if lo is None:
                    lo = hi = x
                else:
                    lo = min(lo, x)
                    hi = max(hi, x)
            return [] if lo is None else [(lo, hi)]
        found = [m for part in self._run(minmax) for m in part]
        if not found:
            raise ValueError("histogram: can not generate buckets from empty RDD")
        lo = min(m[0] for m in found)
        hi = max(m[1] for m in found)
        if lo == hi or n == 1:
            return [lo, hi], [self.filter(lambda x: not _is_missing(x)).count()]
        try:
            inc = (hi - lo) / n
        except TypeError:
            raise TypeError("histogram: can not generate buckets with non-number in RDD") from None
        if math.isinf(inc):
            raise ValueError("histogram: can not generate buckets with infinite value")
        whole = int(inc)
        inc = whole if whole * n == hi - lo else (hi - lo) * 1.0 / n
        edges = [i * inc + lo for i in range(n)]
        edges.append(hi)
        return edges, self._count_buckets(edges, inc)

    def _count_buckets(self, edges: Sequence[Any], inc: Any) -> list[int]:
        lo, hi = edges[0], edges[-1]
        n = len(edges)

        def count(it: Any) -> list[int]:
            counts = [0] * n
            for x in it:
                if _is_missing(x) or x > hi or x < lo:
                    continue
                i = int((x - lo) / inc) if inc is not None else bisect.bisect_right(edges, x) - 1
                counts[i] += 1
            last = counts.pop()
            counts[-1] += last
            return counts
        return self._reduce_partitions(count, lambda a, b: [x + y for x, y in zip(a, b)])
