"""Streams computed from several parents at the same batch time
(``StreamingContext.union`` and ``StreamingContext.transform``)."""
from __future__ import annotations

from typing import Any, Callable

from ..core.rdd import RDD
from .dstream import DStream
from .util import batch_datetime


def _check_parents(parents: list[DStream]) -> None:
    if len({p._slide_ms for p in parents}) > 1:
        raise ValueError("Some of the DStreams have different slide durations: "
                         + ", ".join(f"{p._slide_ms} ms" for p in parents))
    if len({id(p._ssc) for p in parents}) > 1:
        raise ValueError("Some of the DStreams have different contexts")


def _parent_rdds(parents: list[DStream], t: int, what: str) -> list[RDD]:
    rdds = []
    for p in parents:
        rdd = p._get_or_compute(t)
        if rdd is None:
            raise RuntimeError(f"Could not generate RDD from a parent for {what} at time {t} ms "
                               f"(parent {p._name()})")
        rdds.append(rdd)
    return rdds


class UnionDStream(DStream):
    """Union of every parent's RDD for the batch, in parent order; a parent
    with no RDD at a valid time is an error (as in Spark)."""

    def __init__(self, parents: list[DStream]) -> None:
        _check_parents(parents)
        super().__init__(parents[0]._ssc, parents)

    def _compute(self, t: int) -> RDD | None:
        return self._sc.union(_parent_rdds(self._parents, t, "unifying"))


class MultiTransformedDStream(DStream):
    """``func(time, rdds)`` over the parents' RDDs of the batch (a tuple, in
    parent order, as PySpark passes them). A parent with no RDD at a valid
    time is an error, and so is a function that returns None (as in Spark)."""

    _function_attrs = ("func",)

    def __init__(self, parents: list[DStream], func: Callable[[Any, tuple[RDD, ...]], RDD]) -> None:
        _check_parents(parents)
        super().__init__(parents[0]._ssc, parents)
        self.func = func

    def _compute(self, t: int) -> RDD | None:
        rdds = tuple(_parent_rdds(self._parents, t, "transform"))
        result = self.func(batch_datetime(t), rdds)
        if result is None:
            raise TypeError("Transform function must not return None. Return "
                            "SparkContext.emptyRDD() instead to represent no element as the result "
                            "of transformation.")
        if not isinstance(result, RDD):
            raise TypeError(f"the function of {self._name()} must return an RDD, got {type(result).__name__}")
        return result
