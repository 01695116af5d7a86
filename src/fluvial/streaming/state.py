"""Stateful streams: updateStateByKey and mapWithState.

State RDDs are persisted and periodically checkpointed (a checkpoint directory
is required, as in Spark), so lineage and recovery time stay bounded. Each
batch's state is a new RDD: the previous batch's state is never mutated, so a
re-run batch sees exactly the state it saw the first time.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from ..core.rdd import RDD
from ..core.shuffle import Partitioner, one_to_one, portable_hash
from ..core.storage import StorageLevel
from .dstream import DStream
from .util import batch_datetime, to_ms


class StateDStream(DStream):
    """State at ``t`` = ``func(t, state at t - slide (or the initial RDD), batch at t)``;
    with no batch RDD at ``t`` the previous state carries over."""

    def __init__(self, parent: DStream, func: Callable[[Any, RDD | None, RDD], RDD],
                 initial: RDD | None) -> None:
        super().__init__(parent._ssc, [parent])
        self.func = func
        self.initial = initial
        self._must_checkpoint = True
        self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def _compute(self, t: int) -> RDD | None:
        last = self._get_or_compute(t - self._slide_ms)
        rdd = self._parents[0]._get_or_compute(t)
        if rdd is None:
            return last
        return self.func(batch_datetime(t), last if last is not None else self.initial, rdd)


class State:
    """The state of one key, handed to a mapWithState function."""

    def __init__(self, exists: bool, value: Any = None, timing_out: bool = False) -> None:
        self._exists = exists
        self._value = value
        self._timing_out = timing_out
        self._updated = False
        self._removed = False

    def exists(self) -> bool:
        return self._exists

    def get(self) -> Any:
        if not self._exists:
            raise KeyError("State is not set: check exists() before get()")
        return self._value

    def getOption(self) -> Any:
        return self._value if self._exists else None

    def update(self, newState: Any) -> None:
        if self._removed:
            raise ValueError("Cannot update the state after it has been removed")
        if self._timing_out:
            raise ValueError("Cannot update the state that is timing out")
        self._value, self._exists, self._updated = newState, True, True

    def remove(self) -> None:
        if self._timing_out:
            raise ValueError("Cannot remove the state that is timing out; it is removed automatically")
        if self._removed:
            raise ValueError("Cannot remove the state that has already been removed")
        self._exists, self._removed, self._value = False, True, None

    def isTimingOut(self) -> bool:
        return self._timing_out

    def __repr__(self) -> str:
        return f"State({self._value!r})" if self._exists else "State(<not set>)"


class StateSpec:
    """What mapWithState needs: ``mappingFunction(key, value, state) -> mapped``.

    ``initialState`` (an RDD or list of ``(key, state)``), ``numPartitions`` and
    ``timeout`` (seconds of inactivity after which the function is called once
    more with ``value=None`` and ``state.isTimingOut()`` true, then the key is
    dropped) are optional. Builder methods return the spec, as in Scala."""

    def __init__(self, mappingFunction: Callable[[Any, Any, State], Any], initialState: Any = None,
                 numPartitions: int | None = None, timeout: float | None = None) -> None:
        if not callable(mappingFunction):
            raise TypeError(f"StateSpec: mappingFunction must be callable, got {mappingFunction!r}")
        self.mappingFunction = mappingFunction
        self._initial = initialState
        self._num_partitions = numPartitions
        self._timeout_ms = to_ms(timeout, "StateSpec timeout") if timeout is not None else None

    @staticmethod
    def function(mappingFunction: Callable[[Any, Any, State], Any]) -> "StateSpec":
        return StateSpec(mappingFunction)

    def initialState(self, rdd: Any) -> "StateSpec":
        self._initial = rdd
        return self

    def numPartitions(self, numPartitions: int) -> "StateSpec":
        if not isinstance(numPartitions, int) or numPartitions <= 0:
            raise ValueError(f"StateSpec.numPartitions must be a positive integer, got {numPartitions!r}")
        self._num_partitions = numPartitions
        return self

    def timeout(self, seconds: float) -> "StateSpec":
        self._timeout_ms = to_ms(seconds, "StateSpec timeout")
        return self


class MapWithStateRDD(RDD):
    """Partition i: one record ``(state_map, mapped_values)`` built from the
    previous state's partition i and the batch's records of partition i."""

    def __init__(self, prev: RDD, data: RDD, func: Callable, t: int, timeout_ms: int | None,
                 partitioner: Partitioner) -> None:
        super().__init__(prev.ctx, [one_to_one(prev), one_to_one(data)], partitioner.numPartitions, partitioner)
        self._prev, self._data = prev, data
        self._func, self._t, self._timeout_ms = func, t, timeout_ms

    def compute(self, split: int, tctx: Any) -> Iterator:
        previous = next(iter(self._prev.iterator(split, tctx)), ({}, []))[0]
        states = dict(previous)
        mapped = []
        func, t = self._func, self._t
        touched = set()
        for k, v in self._data.iterator(split, tctx):
            entry = states.get(k)
            st = State(entry is not None, entry[0] if entry is not None else None)
            mapped.append(func(k, v, st))
            if st._removed:
                states.pop(k, None)
            elif st._updated:
                states[k] = (st._value, t)
            touched.add(k)
        if self._timeout_ms is not None:
            limit = t - self._timeout_ms
            for k in [k for k, (_, ts) in states.items() if ts < limit and k not in touched]:
                st = State(True, states[k][0], timing_out=True)
                mapped.append(func(k, None, st))
                del states[k]
        return iter([(states, mapped)])


class _InitialStateRDD(RDD):
    def __init__(self, pairs: RDD, t: int, partitioner: Partitioner) -> None:
        super().__init__(pairs.ctx, [one_to_one(pairs)], partitioner.numPartitions, partitioner)
        self._pairs, self._t = pairs, t

    def compute(self, split: int, tctx: Any) -> Iterator:
        return iter([({k: (s, self._t) for k, s in self._pairs.iterator(split, tctx)}, [])])


class InternalMapWithStateDStream(DStream):
    def __init__(self, parent: DStream, spec: StateSpec) -> None:
        super().__init__(parent._ssc, [parent])
        self.spec = spec
        n = spec._num_partitions or self._sc.defaultParallelism
        self.partitioner = Partitioner(n, portable_hash)
        self._must_checkpoint = True
        self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def _compute(self, t: int) -> RDD | None:
        n = self.partitioner.numPartitions
        prev = self._get_or_compute(t - self._slide_ms)
        if prev is None:
            initial = self.spec._initial
            if initial is None:
                initial = self._sc.emptyRDD()
            elif not isinstance(initial, RDD):
                initial = self._sc.parallelize(list(initial))
            prev = _InitialStateRDD(initial.partitionBy(n, portable_hash), t, self.partitioner)
        data = self._parents[0]._get_or_compute(t)
        if data is None:
            data = self._sc.emptyRDD()
        data = data.partitionBy(n, portable_hash)
        return MapWithStateRDD(prev, data, self.spec.mappingFunction, t, self.spec._timeout_ms, self.partitioner)


class MapWithStateDStream(DStream):
    """The values returned by the mapping function, batch by batch. Use
    :meth:`stateSnapshots` for the full ``(key, state)`` table after each batch."""

    def __init__(self, parent: DStream, spec: StateSpec) -> None:
        if not isinstance(spec, StateSpec):
            raise TypeError(f"mapWithState takes a StateSpec, got {type(spec).__name__}")
        self._internal = InternalMapWithStateDStream(parent, spec)
        super().__init__(parent._ssc, [self._internal])

    def _compute(self, t: int) -> RDD | None:
        rdd = self._internal._get_or_compute(t)
        return None if rdd is None else rdd.flatMap(lambda rec: rec[1])

    def stateSnapshots(self) -> DStream:
        return self._internal.flatMap(lambda rec: ((k, v[0]) for k, v in rec[0].items()))
