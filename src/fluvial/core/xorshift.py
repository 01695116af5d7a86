"""Spark's ``XORShiftRandom``, bit for bit, and where ``repartition`` starts dealing.

Spark's ``RDD.coalesce(n, shuffle=True)`` (which PySpark's ``repartition``
and ``coalesce(n, shuffle=True)`` call) gives the elements of input partition
``i`` the keys ``p + 1, p + 2, ...`` with ``p = new XORShiftRandom(i).nextInt(n)``
and sends them through a ``HashPartitioner(n)`` (key ``k`` to ``k mod n``).
This module reproduces that generator exactly:

* the seed is ``XORShiftRandom.hashSeed(init)``: Scala's
  ``MurmurHash3.bytesHash`` (MurmurHash3_x86_32, seed ``arraySeed``) over the
  8 big-endian bytes of the ``Long`` gives the low 32 bits, the same hash
  seeded with those low bits gives the high 32 bits;
* ``next(bits)`` is Marsaglia's xorshift (``<< 21``, ``>>> 35``, ``<< 4``) on
  that 64-bit state, keeping the low ``bits`` bits;
* ``nextInt(bound)`` is ``java.util.Random.nextInt(int)`` over that
  ``next``: one ``next(31)`` scaled for a power of two, otherwise rejection
  sampling of ``next(31) % bound``.

Arithmetic is done on Python ints masked to Java's widths, so results equal
the JVM's for every seed and bound.
"""
from __future__ import annotations

from functools import lru_cache

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_INT_MAX = 0x7FFFFFFF
# scala.util.hashing.MurmurHash3.arraySeed, the seed of bytesHash(data).
ARRAY_SEED = 0x3C074A61


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _to_int32(x: int) -> int:
    x &= _M32
    return x - (1 << 32) if x & 0x80000000 else x


def _to_int64(x: int) -> int:
    x &= _M64
    return x - (1 << 64) if x & (1 << 63) else x


def _mix_last(h: int, k: int) -> int:
    k = (k * 0xCC9E2D51) & _M32
    k = _rotl32(k, 15)
    k = (k * 0x1B873593) & _M32
    return h ^ k


def murmur3_bytes_hash(data: bytes, seed: int = ARRAY_SEED) -> int:
    """Scala's ``MurmurHash3.bytesHash(data, seed)`` (MurmurHash3_x86_32:
    little-endian 4-byte blocks, then the tail, then the avalanche), as a
    signed 32-bit ``Int``."""
    h = seed & _M32
    n = len(data)
    end = n - n % 4
    for i in range(0, end, 4):
        h = _rotl32(_mix_last(h, int.from_bytes(data[i:i + 4], "little")), 13)
        h = (h * 5 + 0xE6546B64) & _M32
    if n > end:
        h = _mix_last(h, int.from_bytes(data[end:], "little"))
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return _to_int32(h)


def hash_seed(seed: int) -> int:
    """Spark's ``XORShiftRandom.hashSeed(seed)``: the generator's initial
    64-bit state (a signed ``Long``) for the seed ``seed`` (a ``Long``)."""
    data = _to_int64(seed).to_bytes(8, "big", signed=True)
    low = murmur3_bytes_hash(data, ARRAY_SEED)
    high = murmur3_bytes_hash(data, low)
    return _to_int64(((high & _M32) << 32) | (low & _M32))


class XORShiftRandom:
    """``org.apache.spark.util.random.XORShiftRandom(init)``: the same
    sequence of ``next(bits)`` and ``nextInt(bound)`` values as on the JVM."""

    __slots__ = ("_state",)

    def __init__(self, init: int) -> None:
        self._state = hash_seed(init) & _M64

    def next_bits(self, bits: int) -> int:
        """``next(bits)``: advance the state and return its low ``bits`` bits
        (1 <= bits <= 32; an ``Int``, so negative when bit 31 is kept and set)."""
        if not 1 <= bits <= 32:
            raise ValueError(f"XORShiftRandom.next_bits: bits must be in 1..32, got {bits!r}")
        s = self._state
        s ^= (s << 21) & _M64
        s ^= s >> 35
        s ^= (s << 4) & _M64
        self._state = s
        return _to_int32(s & ((1 << bits) - 1))

    def next_int(self, bound: int) -> int:
        """``java.util.Random.nextInt(bound)``: uniform in ``[0, bound)``, for
        ``0 < bound <= 2**31 - 1``."""
        if not isinstance(bound, int) or not 0 < bound <= _INT_MAX:
            raise ValueError(f"XORShiftRandom.next_int: bound must be an int in 1..{_INT_MAX}, got {bound!r}")
        r = self.next_bits(31)
        m = bound - 1
        if bound & m == 0:
            return (bound * r) >> 31
        u = r
        r = u % bound
        while u - r + m > _INT_MAX:  # Java's int overflow test: the last, partial range is rejected
            u = self.next_bits(31)
            r = u % bound
        return r


@lru_cache(maxsize=4096)
def start_position(index: int, num_partitions: int) -> int:
    """``new XORShiftRandom(index).nextInt(num_partitions)``: Spark's
    ``coalesce(shuffle=True)`` sends the first element of input partition
    ``index`` to output partition ``(start_position + 1) % num_partitions``
    and each next element to the partition after."""
    return XORShiftRandom(index).next_int(num_partitions)
