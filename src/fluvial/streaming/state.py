"""Stateful streams: ``updateStateByKey`` and ``mapWithState``.

Both keep their state as one RDD per batch, persisted and checkpointed
periodically (so a checkpoint directory is required, as in Spark), which
bounds lineage over a long run. The previous batch's state is never mutated:
each batch builds a new state from it.

``mapWithState`` (fluvial's counterpart of Scala's ``mapWithState``)
---------------------------------------------------------------------
``stream.mapWithState(StateSpec.function(f))`` calls ``f(key, value, state)``
once per record of each batch, in the order the records arrive in their
partition, and emits what ``f`` returns (None included). ``state`` is a
:class:`State`: ``exists()``, ``get()``, ``getOption()``, ``update(v)``,
``remove()``, ``isTimingOut()``. A state that is neither updated nor removed
keeps its previous value. ``f`` may also take ``(time, key, value, state)``,
``time`` being the batch's ``datetime``.

Options on the spec: ``initialState(rdd_or_pairs)`` (states present before
the first batch), ``numPartitions(n)`` (default ``defaultParallelism``) and
``timeout(seconds)``: a key that has received no record for more than
``seconds`` is timed out at the next batch: ``f(key, None, state)`` is called
once with ``state.isTimingOut()`` true (``update``/``remove`` are then
errors), its return value is emitted, and the key is dropped. Receiving a
record, even one that leaves the state unchanged, resets the key's timer.
Unlike Scala, which looks for timed-out keys only in checkpointing batches,
fluvial checks every batch, so a timeout fires at the first batch after it
expires.

``mapped.stateSnapshots()`` is the stream of the whole ``(key, state)``
table after each batch.

Example::

    import tempfile
    from fluvial import SparkContext
    from fluvial.streaming import StateSpec, StreamingContext
    from fluvial.testing import ListSink, ManualClock, queue_source

    def running_count(word, one, state):
        if state.isTimingOut():
            return (word, "expired", state.get())
        total = (state.getOption() or 0) + one
        state.update(total)
        return (word, total)

    sc = SparkContext("local", "mapWithState example")
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    ssc.checkpoint(tempfile.mkdtemp())
    words = queue_source(ssc, [["a", "b", "a"], ["b"], [], []])
    counts = words.map(lambda w: (w, 1)).mapWithState(StateSpec.function(running_count).timeout(2))
    mapped, tables = ListSink(counts), ListSink(counts.stateSnapshots())
    ssc.start()
    clock.advance(4)                      # batches at t = 1, 2, 3, 4 s
    ssc.stop()
    assert mapped.batches == [[("a", 1), ("b", 1), ("a", 2)], [("b", 2)], [], [("a", "expired", 2)]]
    assert [dict(t) for t in tables.batches] == [{"a": 2, "b": 1}, {"a": 2, "b": 2}, {"a": 2, "b": 2}, {"b": 2}]
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from ..core.rdd import RDD
from ..core.shuffle import Partitioner, one_to_one, portable_hash
from ..core.storage import StorageLevel
from ..core.table import KeyTable
from .dstream import DStream
from .util import batch_datetime, positional_arity, to_ms

__all__ = ["State", "StateSpec", "StateDStream", "MapWithStateDStream"]

_MEMORY_ONLY: StorageLevel = StorageLevel.MEMORY_ONLY  # type: ignore[attr-defined]


class StateDStream(DStream):
    """updateStateByKey (Spark's ``PythonStateDStream``): state at ``t`` =
    ``func(t, state at t - slide (or the initial RDD), batch at t)``; when the
    parent has no RDD at ``t`` the previous state carries over unchanged."""

    _function_attrs = ("func",)

    def __init__(self, parent: DStream, func: Callable[[Any, RDD | None, RDD], RDD],
                 initial: RDD | None) -> None:
        super().__init__(parent._ssc, [parent])
        self.func = func
        self.initial = initial
        self._must_checkpoint = True
        self._set_storage(_MEMORY_ONLY)

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
        """Whether the key has a state (False after ``remove()``)."""
        return self._exists

    def get(self) -> Any:
        """The state; ``LookupError`` when there is none (check ``exists()``)."""
        if not self._exists:
            raise LookupError("State is not set: check exists() or use getOption()")
        return self._value

    def getOption(self) -> Any:
        """The state, or None when there is none."""
        return self._value if self._exists else None

    def update(self, newState: Any) -> None:
        """Set the state (kept from this batch on)."""
        if self._removed:
            raise ValueError("Cannot update the state after it has been removed")
        if self._timing_out:
            raise ValueError("Cannot update the state that is timing out")
        self._value, self._exists, self._updated = newState, True, True

    def remove(self) -> None:
        """Drop the key's state (from this batch on)."""
        if self._timing_out:
            raise ValueError("Cannot remove the state that is timing out; it is removed automatically")
        if self._removed:
            raise ValueError("Cannot remove the state that has already been removed")
        self._exists, self._removed, self._updated, self._value = False, True, False, None

    def isTimingOut(self) -> bool:
        """True in the one call made for a key whose timeout expired."""
        return self._timing_out

    def __repr__(self) -> str:
        return f"State({self._value!r})" if self._exists else "State(<not set>)"


class StateSpec:
    """What mapWithState needs: ``mappingFunction(key, value, state)`` (or
    ``(time, key, value, state)``) and, optionally, an initial state, a
    number of partitions and a timeout in seconds. The builder methods return
    the spec, as in Scala: ``StateSpec.function(f).timeout(30)``."""

    def __init__(self, mappingFunction: Callable[..., Any], initialState: Any = None,
                 numPartitions: int | None = None, timeout: float | None = None) -> None:
        if not callable(mappingFunction):
            raise TypeError(f"StateSpec: mappingFunction must be callable, got {mappingFunction!r}")
        self.mappingFunction = mappingFunction
        self._with_time = positional_arity(mappingFunction) >= 4
        self._initial = initialState
        self._num_partitions: int | None = None
        self._timeout_ms: int | None = None
        if numPartitions is not None:
            self.numPartitions(numPartitions)
        if timeout is not None:
            self.timeout(timeout)

    @staticmethod
    def function(mappingFunction: Callable[..., Any]) -> "StateSpec":
        return StateSpec(mappingFunction)

    def initialState(self, rdd: Any) -> "StateSpec":
        """``(key, state)`` pairs (an RDD or a list) present before the first batch."""
        self._initial = rdd
        return self

    def numPartitions(self, numPartitions: int) -> "StateSpec":
        if isinstance(numPartitions, bool) or not isinstance(numPartitions, int) or numPartitions <= 0:
            raise ValueError(f"StateSpec.numPartitions must be a positive integer, got {numPartitions!r}")
        self._num_partitions = numPartitions
        return self

    def timeout(self, seconds: float) -> "StateSpec":
        """Time out keys idle for more than ``seconds``."""
        self._timeout_ms = to_ms(seconds, "StateSpec timeout")
        return self


class UpdateStateRDD(RDD):
    """One batch of updateStateByKey, in one pass per partition.

    Partition i reads the previous state's partition i and the batch's
    ``(key, new_values)`` of partition i (keys unique in both; partitioned
    alike), and calls ``updateFunc(new_values, state)`` for every key in
    PySpark's order: keys with a state first (in state order), then new keys
    as they arrive; ``state`` is None for a new key. A None result drops the
    key. Equivalent to PySpark's cogroup-based update, without building the
    intermediate groups."""

    _parent_attrs = ("_prev", "_data")

    def __init__(self, prev: RDD | None, data: RDD, update: Callable[[list, Any], Any],
                 partitioner: Partitioner) -> None:
        deps = [one_to_one(data)] if prev is None else [one_to_one(prev), one_to_one(data)]
        super().__init__(data.ctx, deps, partitioner.numPartitions, partitioner)
        self._prev, self._data, self._update = prev, data, update

    def compute(self, split: int, tctx: Any) -> KeyTable:
        states: dict = {}
        if self._prev is not None:
            stored = self._prev._stored_table(split, tctx)
            states = stored if stored is not None else _first_states(list(self._prev.iterator(split, tctx)))
        arrived = self._data._table(split, tctx)
        take = arrived.pop
        update = self._update
        out = {}
        for k, state in states.items():
            values = take(k, None)
            new = update([] if values is None else values, state)
            if new is not None:
                out[k] = new
        for k, values in arrived.items():
            new = update(values, None)
            if new is not None:
                out[k] = new
        return KeyTable(out)


def _first_states(records: list) -> dict:
    """Key to state, the first of a key's states when it repeats (as an
    initial RDD may)."""
    states = dict(records)
    if len(states) != len(records):
        states = {}
        for k, state in records:
            states.setdefault(k, state)
    return states


class MapWithStateRDD(RDD):
    """Partition i: one record ``(state_map, mapped_values)`` built from the
    previous state's partition i and the batch's records of partition i.
    ``state_map`` maps key to ``(state, last_update_ms)``."""

    _parent_attrs = ("_prev", "_data")

    def __init__(self, prev: RDD, data: RDD, spec: StateSpec, t: int, partitioner: Partitioner) -> None:
        super().__init__(prev.ctx, [one_to_one(prev), one_to_one(data)], partitioner.numPartitions, partitioner)
        self._prev, self._data = prev, data
        self._func, self._with_time = spec.mappingFunction, spec._with_time
        self._t, self._timeout_ms = t, spec._timeout_ms

    def compute(self, split: int, tctx: Any) -> Iterator:
        previous = next(iter(self._prev.iterator(split, tctx)), ({}, []))[0]
        states = dict(previous)
        mapped = []
        t, timeout = self._t, self._timeout_ms
        when = batch_datetime(t)
        func = self._func
        call = (lambda k, v, st: func(when, k, v, st)) if self._with_time else func
        for k, v in self._data.iterator(split, tctx):
            entry = states.get(k)
            st = State(entry is not None, entry[0] if entry is not None else None)
            mapped.append(call(k, v, st))
            if st._removed:
                states.pop(k, None)
            elif st._updated or (st._exists and timeout is not None):
                states[k] = (st._value, t)
        if timeout is not None:
            limit = t - timeout
            for k in [k for k, (_, at) in states.items() if at < limit]:
                st = State(True, states[k][0], timing_out=True)
                mapped.append(call(k, None, st))
                del states[k]
        return iter([(states, mapped)])


class _InitialStateRDD(RDD):
    _parent_attrs = ("_pairs",)

    def __init__(self, pairs: RDD, t: int, partitioner: Partitioner) -> None:
        super().__init__(pairs.ctx, [one_to_one(pairs)], partitioner.numPartitions, partitioner)
        self._pairs, self._t = pairs, t

    def compute(self, split: int, tctx: Any) -> Iterator:
        return iter([({k: (s, self._t) for k, s in self._pairs.iterator(split, tctx)}, [])])


class InternalMapWithStateDStream(DStream):
    """The ``(state_map, mapped)`` records per partition; checkpointed every
    10 slides by default (as in Spark)."""

    _function_attrs = ("spec",)

    def __init__(self, parent: DStream, spec: StateSpec) -> None:
        super().__init__(parent._ssc, [parent])
        self.spec = spec
        n = spec._num_partitions or self._sc.defaultParallelism
        self.partitioner = Partitioner(n, portable_hash)
        self._must_checkpoint = True
        self._set_storage(_MEMORY_ONLY)

    def _default_checkpoint_ms(self) -> int:
        return self._slide_ms * 10

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
        return MapWithStateRDD(prev, data, self.spec, t, self.partitioner)


class MapWithStateDStream(DStream):
    """The values returned by the mapping function, batch by batch (see the
    module docstring). :meth:`stateSnapshots` gives the state table."""

    def __init__(self, parent: DStream, spec: StateSpec) -> None:
        if not isinstance(spec, StateSpec):
            raise TypeError(f"mapWithState takes a StateSpec, got {type(spec).__name__}")
        internal = InternalMapWithStateDStream(parent, spec)
        super().__init__(parent._ssc, [internal])
        self._internal = internal

    def _compute(self, t: int) -> RDD | None:
        rdd = self._internal._get_or_compute(t)
        return None if rdd is None else rdd.flatMap(lambda rec: rec[1])

    def stateSnapshots(self) -> DStream:
        """``(key, state)`` for every key with a state, after each batch."""
        return self._internal.flatMap(lambda rec: ((k, v[0]) for k, v in rec[0].items()))
