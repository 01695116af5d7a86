"""Dependencies, partitioners and the one shuffle primitive.

fluvial has a single wide operation, *partition by key*: a map task splits its
records into one bucket per reduce partition; a reduce task concatenates its
bucket from every map task, in map order. Everything keyed (reduceByKey, join,
sortByKey, distinct, ...) is a narrow pre-combine, this shuffle, and a narrow
post-merge, so map-side combining is simply part of the map stage's pipeline.
"""
from __future__ import annotations

import io
import operator
import pickle
import sys
from typing import Any, Callable, Collection, Hashable, Iterable

_MASK = sys.maxsize


def portable_hash(x: Hashable) -> int:
    """Hash used for partitioning, stable for ``None`` and tuples across
    processes that share ``PYTHONHASHSEED`` (worker processes get the driver's
    seed, or 0). Equal to PySpark's partitioning hash, so keys land in the same
    partitions as they do there."""
    if x is None:
        return 0
    if isinstance(x, tuple):
        h = 0x345678
        for item in x:
            h ^= portable_hash(item)
            h *= 1000003
            h &= _MASK
        h ^= len(x)
        return -2 if h == -1 else h
    return hash(x)


class Partitioner:
    """Maps a key to a partition index: ``partitionFunc(key) % numPartitions``.

    Two partitioners are equal when they have the same number of partitions and
    the same function object; an RDD already partitioned by an equal partitioner
    is not shuffled again."""

    def __init__(self, numPartitions: int, partitionFunc: Callable[[Any], int]) -> None:
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Partitioner) and self.numPartitions == other.numPartitions
                and self.partitionFunc == other.partitionFunc)

    def __hash__(self) -> int:
        return hash((self.numPartitions, id(self.partitionFunc)))

    def __call__(self, k: Any) -> int:
        return self.partitionFunc(k) % self.numPartitions

    def __repr__(self) -> str:
        return f"Partitioner({self.numPartitions}, {getattr(self.partitionFunc, '__name__', self.partitionFunc)})"


class Dependency:
    rdd: Any


class NarrowDependency(Dependency):
    """Each child partition reads a fixed, small set of parent partitions."""

    def __init__(self, rdd: Any, parents: Callable[[int], list[int]]) -> None:
        self.rdd = rdd
        self.parents = parents


def one_to_one(rdd: Any) -> NarrowDependency:
    return NarrowDependency(rdd, lambda split: [split])


def range_dependency(rdd: Any, out_start: int, length: int) -> NarrowDependency:
    def parents(split: int) -> list[int]:
        return [split - out_start] if out_start <= split < out_start + length else []
    return NarrowDependency(rdd, parents)


class ShuffleDependency(Dependency):
    """A stage boundary: the parent's partitions are split by ``partitioner``.

    Map output for map task ``m`` is kept as the block ``("shuffle", id, m)``:
    a list with one serialized bucket (see :func:`write_buckets`) per reduce
    partition."""

    def __init__(self, rdd: Any, partitioner: Partitioner, shuffle_id: int) -> None:
        self.rdd = rdd
        self.partitioner = partitioner
        self.shuffle_id = shuffle_id


ATOMS = frozenset({str, bytes, int, float, complex, bool, type(None)})
"""Immutable types with no inner objects, by exact type (a subclass may add state)."""


def one_atom_type(items: Collection[Any]) -> bool:
    """Every item has the exact type of the first, an atom type: one C pass,
    30% cheaper than collecting the set of their types."""
    first = type(next(iter(items), None))
    return first in ATOMS and operator.countOf(map(type, items), first) == len(items)


def pickle_immutable(records: Any) -> bytes:
    """``records`` pickled without the memo, 2-3 times as fast as with it.
    Only for atoms and tuples of atoms: the memo keeps shared references
    shared, which immutable values cannot tell apart."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(records)
    return out.getvalue()


def serialize_bucket(bucket: list) -> bytes:
    """A bucket as bytes that any worker process can read: pickle, or
    cloudpickle for records pickle refuses or that refer to ``__main__``
    (a namedtuple or class defined in the driver's script, which a worker's
    ``__main__`` does not have: cloudpickle sends such classes by value).
    A list of atoms only (lines of text, typically) is pickled without the
    memo (:func:`pickle_immutable`)."""
    if bucket and type(bucket[0]) in ATOMS and (one_atom_type(bucket) or set(map(type, bucket)) <= ATOMS):
        return pickle_immutable(bucket)  # (a bucket of pairs fails at its first item, with no pass over it)
    try:
        data = pickle.dumps(bucket, protocol=5)
    except Exception:  # noqa: BLE001 - lambdas, local classes, ...
        data = None
    if data is None or b"__main__" in data:  # a string that merely says so costs only the slower pickler
        import cloudpickle
        data = cloudpickle.dumps(bucket, protocol=5)
    return data


def read_bucket(data: bytes) -> list:
    return pickle.loads(data)


def write_buckets(records: Iterable[tuple[Any, Any]], partitioner: Partitioner) -> list[bytes]:
    """Split key/value records into ``numPartitions`` buckets, keeping their
    order, each serialized: a reduce task always gets its own copy of the
    records, free to mutate them (as merge functions of combineByKey may),
    and map output crosses process boundaries as opaque bytes."""
    return [serialize_bucket(b) for b in _split(records, partitioner)]


def _split(records: Iterable[tuple[Any, Any]], partitioner: Partitioner) -> list[list]:
    n = partitioner.numPartitions
    if n == 1:
        return [list(records)]
    buckets: list[list] = [[] for _ in range(n)]
    appends = [b.append for b in buckets]
    func = partitioner.partitionFunc
    if func is portable_hash:  # inlined: hash(), but for None and tuples (namedtuples too)
        for kv in records:
            k = kv[0]
            if k is None or isinstance(k, tuple):
                appends[portable_hash(k) % n](kv)
            else:
                appends[hash(k) % n](kv)
    else:
        for kv in records:
            appends[func(kv[0]) % n](kv)
    return buckets


def _identity(x: Any) -> Any:
    return x


identity = _identity
