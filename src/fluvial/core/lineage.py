"""The concrete RDD kinds: how each computes one partition from its parents.

User-facing methods live on :class:`fluvial.core.rdd.RDD`; this module holds
only lineage: dependencies and ``compute``. Objects here are pickled into
worker processes, so they drop what a worker must not receive (the context,
driver-held data that travels as task inputs instead, and the parents of a
shuffle, which a reduce task never needs).
"""
from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable, Iterable, Iterator, Sequence

from .pipeline import PartitionStep, compile_steps
from .rdd import RDD
from .shuffle import (NarrowDependency, Partitioner, ShuffleDependency, one_to_one,
                      range_dependency, read_bucket, serialize_bucket)
from .table import KeyTable


class ParallelCollectionRDD(RDD):
    """A driver-side list cut into slices. Each slice is serialized once, here,
    and travels as a task input; every task reads fresh objects, so a function
    that mutates its records cannot change the collection (as in PySpark)."""

    _parent_attrs = ("_slices",)
    _input_backed = True

    def __init__(self, ctx: Any, slices: Sequence[list]) -> None:
        super().__init__(ctx, [], len(slices))
        self._slices: list[bytes] | None = [serialize_bucket(s if type(s) is list else list(s)) for s in slices]
        self.slice_sizes: list[int] = [len(s) for s in slices]

    def _own_inputs(self, split: int, inputs: dict, store: Any) -> None:
        if self._slices is not None:
            inputs[("data", self._id, split)] = self._slices[split]

    def compute(self, split: int, tctx: Any) -> Iterator:
        return iter(read_bucket(tctx.inputs[("data", self._id, split)]))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_slices"] = None
        return state


class EmptyRDD(RDD):
    _input_backed = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx, [], 0)

    def compute(self, split: int, tctx: Any) -> Iterator:
        return iter(())


class PipelinedRDD(RDD):
    """Narrow transformations fused into one function per partition.

    The work is a tuple of steps (:mod:`fluvial.core.pipeline`): per-record
    steps compile into one loop, whole-partition functions are applied as
    given. Chaining a PipelinedRDD onto another appends to its steps instead of
    adding a lineage step, unless the parent is persisted or checkpointed (its
    output must then be materialised)."""

    _parent_attrs = ("_prev",)

    def __init__(self, prev: RDD, func: Callable[[int, Iterator], Iterable] | None = None,
                 preservesPartitioning: bool = False, steps: tuple = ()) -> None:
        own = steps if func is None else (PartitionStep(func),)
        if isinstance(prev, PipelinedRDD) and prev._is_pipelinable():
            self.steps: tuple = prev.steps + own
            source = prev._prev
            self.preservesPartitioning = prev.preservesPartitioning and preservesPartitioning
        else:
            self.steps = own
            source = prev
            self.preservesPartitioning = preservesPartitioning
        super().__init__(prev.ctx, [one_to_one(source)], source.getNumPartitions(),
                         prev.partitioner if preservesPartitioning else None)
        self._prev = source
        self._compiled: Callable[[int, Iterator], Iterable] | None = None

    @property
    def func(self) -> Callable[[int, Iterator], Iterable]:
        """The fused ``(split, iterator) -> iterable`` function."""
        if self._compiled is None:
            self._compiled = compile_steps(self.steps)
        return self._compiled

    def _is_pipelinable(self) -> bool:
        return self._storage_level is None and not self._checkpointed and not self._checkpoint_requested

    def compute(self, split: int, tctx: Any) -> Iterator | KeyTable:
        out = self.func(split, self._prev.iterator(split, tctx))
        return out if type(out) is KeyTable else iter(out)  # a combine's table may be kept as it is

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_compiled"] = None
        return state


class UnionRDD(RDD):
    """Partitions of each parent, one after another."""

    _parent_attrs = ("_parts",)

    def __init__(self, ctx: Any, rdds: Sequence[RDD]) -> None:
        deps = []
        self._parts: list[tuple[RDD, int]] = []
        for r in rdds:
            deps.append(range_dependency(r, len(self._parts), r.getNumPartitions()))
            self._parts.extend((r, i) for i in range(r.getNumPartitions()))
        super().__init__(ctx, deps, len(self._parts))

    def compute(self, split: int, tctx: Any) -> Iterator:
        parent, index = self._parts[split]
        return parent.iterator(index, tctx)


class PartitionerAwareUnionRDD(RDD):
    """Union of RDDs sharing one partitioner: partition i reads each parent's i."""

    _parent_attrs = ("_rdds",)

    def __init__(self, ctx: Any, rdds: Sequence[RDD]) -> None:
        n = rdds[0].getNumPartitions()
        super().__init__(ctx, [one_to_one(r) for r in rdds], n, rdds[0].partitioner)
        self._rdds = list(rdds)

    def compute(self, split: int, tctx: Any) -> Iterator:
        return itertools.chain.from_iterable(r.iterator(split, tctx) for r in self._rdds)


class ShuffledRDD(RDD):
    """The reduce side of a shuffle: bucket ``split`` of every map task, in map order."""

    def __init__(self, prev: RDD, partitioner: Partitioner) -> None:
        sid = prev.ctx._new_shuffle_id()
        self.shuffle_id = sid
        self._num_maps = prev.getNumPartitions()
        super().__init__(prev.ctx, [ShuffleDependency(prev, partitioner, sid)],
                         partitioner.numPartitions, partitioner)
        weakref.finalize(self, prev.ctx._blocks.release_owner, "shuffle", sid)

    def _own_inputs(self, split: int, inputs: dict, store: Any) -> None:
        inputs[("shuffle", self.shuffle_id, split)] = [
            store.get(("shuffle", self.shuffle_id, m))[split] for m in range(self._num_maps)]

    def compute(self, split: int, tctx: Any) -> Iterator:
        return itertools.chain.from_iterable(map(read_bucket, tctx.inputs[("shuffle", self.shuffle_id, split)]))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_deps"] = []
        return state


class CoalescedRDD(RDD):
    """Each partition is a group of parent partitions read in order (no shuffle)."""

    _parent_attrs = ("_prev",)

    def __init__(self, prev: RDD, groups: Sequence[Sequence[int]]) -> None:
        self._groups = [list(g) for g in groups]
        super().__init__(prev.ctx, [NarrowDependency(prev, lambda s: self._groups[s])], len(groups))
        self._prev = prev

    def compute(self, split: int, tctx: Any) -> Iterator:
        return itertools.chain.from_iterable(self._prev.iterator(p, tctx) for p in self._groups[split])


class CartesianRDD(RDD):
    """Partition (i, j) pairs every record of a[i] with every record of b[j]."""

    _parent_attrs = ("_a", "_b")

    def __init__(self, a: RDD, b: RDD) -> None:
        nb = b.getNumPartitions()
        self._nb = nb
        super().__init__(a.ctx, [NarrowDependency(a, lambda s: [s // nb]),
                                 NarrowDependency(b, lambda s: [s % nb])],
                         a.getNumPartitions() * nb)
        self._a, self._b = a, b

    def compute(self, split: int, tctx: Any) -> Iterator:
        right = list(self._b.iterator(split % self._nb, tctx))
        return ((x, y) for x in self._a.iterator(split // self._nb, tctx) for y in right)


class ZippedRDD(RDD):
    """Pairs the i-th record of a[p] with the i-th record of b[p]."""

    _parent_attrs = ("_a", "_b")

    def __init__(self, a: RDD, b: RDD) -> None:
        super().__init__(a.ctx, [one_to_one(a), one_to_one(b)], a.getNumPartitions())
        self._a, self._b = a, b

    def compute(self, split: int, tctx: Any) -> Iterator:
        left = list(self._a.iterator(split, tctx))
        right = list(self._b.iterator(split, tctx))
        if len(left) != len(right):
            raise ValueError(f"zip: partition {split} has {len(left)} elements on the left and "
                             f"{len(right)} on the right; both RDDs need the same number of "
                             "elements in each partition")
        return zip(left, right)
