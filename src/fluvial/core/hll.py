"""HyperLogLog sketches for ``countApproxDistinct``.

A sketch hashes each record to 64 bits (the record's 32-bit
``portable_hash``, as PySpark uses, spread by a SplitMix64 finaliser), keeps
``2**p`` registers of maximum leading-zero ranks, and merges by register-wise
maximum, so per-partition sketches combine exactly. Small cardinalities use
linear counting, which is nearly exact. Precisions above 18 (relativeSD below
about 0.0025) keep the exact set of hashes instead of registers.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .shuffle import portable_hash

_M64 = (1 << 64) - 1
MAX_REGISTER_P = 18


def precision_for(relative_sd: float) -> int:
    """Register-index bits needed for a relative standard deviation (HLL++ rule)."""
    return max(4, int(math.ceil(2.0 * math.log(1.106 / relative_sd) / math.log(2.0))))


def _hash64(x: Any) -> int:
    z = ((portable_hash(x) & 0xFFFFFFFF) + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class HyperLogLog:
    def __init__(self, p: int) -> None:
        self.p = p
        self.exact: set[int] | None = set() if p > MAX_REGISTER_P else None
        self.registers = bytearray(0 if self.exact is not None else 1 << p)

    def add_all(self, items: Iterable[Any]) -> "HyperLogLog":
        if self.exact is not None:
            self.exact.update(portable_hash(x) & 0xFFFFFFFF for x in items)
            return self
        p, regs = self.p, self.registers
        width = 64 - p
        mask = (1 << width) - 1
        for x in items:
            h = _hash64(x)
            idx = h >> width
            rank = width - (h & mask).bit_length() + 1
            if rank > regs[idx]:
                regs[idx] = rank
        return self

    def merge(self, other: "HyperLogLog") -> "HyperLogLog":
        if self.exact is not None:
            self.exact |= other.exact  # type: ignore[operator]
        else:
            self.registers = bytearray(map(max, self.registers, other.registers))
        return self

    def estimate(self) -> int:
        if self.exact is not None:
            return len(self.exact)
        m = len(self.registers)
        alpha = {16: 0.673, 32: 0.697, 64: 0.709}.get(m, 0.7213 / (1 + 1.079 / m))
        raw = alpha * m * m / sum(2.0 ** -r for r in self.registers)
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            return int(round(m * math.log(m / zeros)))
        return int(round(raw))
