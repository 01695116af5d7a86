"""Accumulators: add-only variables that tasks update and the driver reads.

Inside a task, ``add`` records into the task's own update map; the driver
merges a task's updates only when the task succeeds, so a retried task is
counted once. Reading ``value`` inside a task is an error, as in Spark.
"""
from __future__ import annotations

import itertools
from typing import Any, Generic, TypeVar

from .task import TaskContext

T = TypeVar("T")
_ids = itertools.count()


class AccumulatorParam(Generic[T]):
    """How to add values of an accumulator's type."""

    def zero(self, value: T) -> T:
        raise TypeError("AccumulatorParam subclasses must define zero()")

    def addInPlace(self, value1: T, value2: T) -> T:
        raise TypeError("AccumulatorParam subclasses must define addInPlace()")


class AddingAccumulatorParam(AccumulatorParam):
    def __init__(self, zero_value: Any) -> None:
        self.zero_value = zero_value

    def zero(self, value: Any) -> Any:
        return self.zero_value

    def addInPlace(self, value1: Any, value2: Any) -> Any:
        value1 += value2
        return value1


INT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0j)


class Accumulator(Generic[T]):
    def __init__(self, aid: int, value: T, accum_param: AccumulatorParam[T]) -> None:
        self.aid = aid
        self.accum_param = accum_param
        self._value = value

    @property
    def value(self) -> T:
        if TaskContext.get() is not None:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        return self._value

    @value.setter
    def value(self, value: T) -> None:
        if TaskContext.get() is not None:
            raise RuntimeError("Accumulator.value cannot be set inside tasks")
        self._value = value

    def add(self, term: T) -> None:
        ctx = TaskContext.get()
        if ctx is None:
            self._value = self.accum_param.addInPlace(self._value, term)
            return
        updates = ctx.accumulator_updates
        if self.aid in updates:
            updates[self.aid] = self.accum_param.addInPlace(updates[self.aid], term)
        else:
            updates[self.aid] = self.accum_param.addInPlace(self.accum_param.zero(self._value), term)

    def __iadd__(self, term: T) -> "Accumulator[T]":
        self.add(term)
        return self

    def _merge(self, update: T) -> None:
        self._value = self.accum_param.addInPlace(self._value, update)

    def __reduce__(self) -> tuple:
        return (_worker_accumulator, (self.aid, self.accum_param.zero(self._value), self.accum_param))

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


def _worker_accumulator(aid: int, zero: Any, param: AccumulatorParam) -> Accumulator:
    return Accumulator(aid, zero, param)


def new_accumulator(value: Any, accum_param: AccumulatorParam | None = None) -> Accumulator:
    if accum_param is None:
        if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
            raise TypeError(f"no default AccumulatorParam for {type(value).__name__}: "
                            "pass accum_param")
        accum_param = {int: INT_ACCUMULATOR_PARAM, float: FLOAT_ACCUMULATOR_PARAM,
                       complex: COMPLEX_ACCUMULATOR_PARAM}[type(value)]
    return Accumulator(next(_ids), value, accum_param)
