"""Per-partition random samplers and the sample-size arithmetic of takeSample.

The generators follow PySpark's scheme so that a seeded ``sample``,
``randomSplit`` or ``sampleByKey`` selects the same records as PySpark does
for the same partitioning: partition ``split`` draws from
``random.Random(seed ^ split)`` after ten warm-up draws, one uniform draw per
record (or a Poisson count per record when sampling with replacement).
Samplers are plain picklable objects; ``func(split, iterator)`` is what a
``mapPartitionsWithIndex`` runs.
"""
from __future__ import annotations

import math
import random
import sys
from typing import Any, Iterable, Iterator, Mapping


def random_seed() -> int:
    return random.randint(0, sys.maxsize)


class _Sampler:
    def __init__(self, seed: int | None) -> None:
        self.seed = random_seed() if seed is None else seed

    def rng(self, split: int) -> random.Random:
        """The generator of partition ``split``: deterministic for a given seed."""
        r = random.Random(self.seed ^ split)
        for _ in range(10):  # decorrelate the nearby seeds of adjacent partitions
            r.randint(0, 1)
        return r


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson(mean) draw: Knuth's product method below 20, exponential gaps above."""
    if mean <= 0:
        return 0
    k = 0
    if mean < 20.0:
        limit = math.exp(-mean)
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
    else:
        p = rng.expovariate(mean)
        while p < 1.0:
            k += 1
            p += rng.expovariate(mean)
    return k


class BernoulliOrPoissonSampler(_Sampler):
    """Keeps each record with probability ``fraction`` (without replacement) or
    repeats it Poisson(``fraction``) times (with replacement)."""

    def __init__(self, withReplacement: bool, fraction: float, seed: int | None) -> None:
        super().__init__(seed)
        self.withReplacement = withReplacement
        self.fraction = fraction

    def func(self, split: int, iterator: Iterable[Any]) -> Iterator[Any]:
        rng = self.rng(split)
        if self.withReplacement:
            for x in iterator:
                for _ in range(poisson(rng, self.fraction)):
                    yield x
        else:
            for x in iterator:
                if rng.random() < self.fraction:
                    yield x


class RangeSampler(_Sampler):
    """Keeps records whose uniform draw falls in ``[lower, upper)``; splits that
    share a seed and tile ``[0, 1)`` partition the input exactly."""

    def __init__(self, lower: float, upper: float, seed: int) -> None:
        super().__init__(seed)
        self.lower = lower
        self.upper = upper

    def func(self, split: int, iterator: Iterable[Any]) -> Iterator[Any]:
        rng = self.rng(split)
        for x in iterator:
            if self.lower <= rng.random() < self.upper:
                yield x


class StratifiedSampler(_Sampler):
    """Like :class:`BernoulliOrPoissonSampler` with a fraction per key."""

    def __init__(self, withReplacement: bool, fractions: Mapping[Any, float], seed: int | None) -> None:
        super().__init__(seed)
        self.withReplacement = withReplacement
        self.fractions = dict(fractions)

    def func(self, split: int, iterator: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        rng = self.rng(split)
        fractions = self.fractions
        for key, value in iterator:
            if key not in fractions:
                raise KeyError(f"sampleByKey: no fraction given for key {key!r}")
            if self.withReplacement:
                for _ in range(poisson(rng, fractions[key])):
                    yield key, value
            elif rng.random() < fractions[key]:
                yield key, value


def fraction_for_sample_size(num: int, total: int, withReplacement: bool) -> float:
    """A sampling fraction that yields at least ``num`` of ``total`` records with
    very high probability (so takeSample rarely has to sample twice)."""
    fraction = num / total
    if withReplacement:
        sds = 9 if num < 12 else 5
        return fraction + sds * math.sqrt(fraction / total)
    gamma = -math.log(5e-5) / total
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


MAX_SAMPLE_SIZE = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))
