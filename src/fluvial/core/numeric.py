"""Numeric actions, mixed into :class:`~fluvial.core.rdd.RDD`."""
from __future__ import annotations

import bisect
import math
import operator
from typing import Any, Callable

from .statcounter import StatCounter


class NumericMixin:
    def sum(self) -> Any:
        return sum(self._run(lambda it: sum(it)), 0)

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> Any:
        return self.sum()

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
        parts = self._run(lambda it: StatCounter(it))
        total = StatCounter()
        for p in parts:
            total.mergeStats(p)
        return total

    def mean(self) -> float:
        return self.stats().mean()

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> float:
        return self.mean()

    def variance(self) -> float:
        return self.stats().variance()

    def stdev(self) -> float:
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        return self.stats().sampleStdev()

    def histogram(self, buckets: int | list) -> tuple[list, list[int]]:
        """Counts per bucket. ``buckets`` is a number of even buckets between
        min and max, or a sorted list of edges; every bucket is half-open
        ``[a, b)`` except the last, which includes its upper edge."""
        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError(f"histogram: number of buckets must be >= 1, got {buckets}")

            def minmax(it: Any) -> list:
                lo = hi = None
                for x in it:
                    if x is None or (isinstance(x, float) and math.isnan(x)):
                        continue
                    lo = x if lo is None or x < lo else lo
                    hi = x if hi is None or x > hi else hi
                return [] if lo is None else [(lo, hi)]
            found = [m for part in self._run(minmax) for m in part]
            if not found:
                raise ValueError("histogram: cannot build buckets for an empty RDD")
            lo = min(m[0] for m in found)
            hi = max(m[1] for m in found)
            if math.isinf(lo) or math.isinf(hi):
                raise ValueError("histogram: cannot build even buckets with an infinite min or max")
            if lo == hi:
                buckets = [lo, hi]
            else:
                inc = (hi - lo) / buckets
                edges = [lo + i * inc for i in range(buckets)]
                edges.append(hi)
                buckets = edges
        else:
            buckets = list(buckets)
            if len(buckets) < 2:
                raise ValueError("histogram: buckets must have at least two edges")
            if any(a >= b for a, b in zip(buckets, buckets[1:])):
                raise ValueError("histogram: bucket edges must be sorted and unique")
        edges = buckets
        nb = len(edges) - 1
        lo, hi = edges[0], edges[-1]

        def count(it: Any) -> list[int]:
            counts = [0] * nb
            for x in it:
                if x is None or (isinstance(x, float) and math.isnan(x)) or x < lo or x > hi:
                    continue
                i = nb - 1 if x == hi else bisect.bisect_right(edges, x) - 1
                counts[i] += 1
            return counts
        totals = [0] * nb
        for c in self._run(count):
            totals = list(map(operator.add, totals, c))
        return edges, totals
