"""Streams computed from several parents at the same batch time."""
from __future__ import annotations

from typing import Any, Callable

from ..core.rdd import RDD
from .dstream import DStream
from .util import batch_datetime


class UnionDStream(DStream):
    """Union of every parent's RDD for the batch; a parent with no RDD at a
    valid time is an error (as in Spark)."""

    def __init__(self, parents: list[DStream]) -> None:
        super().__init__(parents[0]._ssc, parents)

    def _compute(self, t: int) -> RDD | None:
        rdds = []
        for p in self._parents:
            rdd = p._get_or_compute(t)
            if rdd is None:
                raise RuntimeError(f"Could not generate RDD from a parent for unifying at time {t} ms "
                                   f"(parent created at {p._creation_site})")
            rdds.append(rdd)
        return self._sc.union(rdds)


class MultiTransformedDStream(DStream):
    def __init__(self, parents: list[DStream], func: Callable[[Any, list[RDD | None]], RDD | None]) -> None:
        super().__init__(parents[0]._ssc, parents)
        self.func = func

    def _compute(self, t: int) -> RDD | None:
        return self.func(batch_datetime(t), [p._get_or_compute(t) for p in self._parents])
