"""RDDs from driver-side data: how ``parallelize`` cuts a collection.

The slicing reproduces PySpark's, so ``glom()`` and partition-dependent
results match it:

* a ``range`` is cut at ``start + int(i * len / n) * step``;
* any other collection is first grouped into batches of
  ``max(1, min(len // n, batchSize or 1024))`` consecutive elements (as
  PySpark's serializer batches them), and slice ``i`` holds batches
  ``[i * b // n, (i + 1) * b // n)`` of the ``b`` batches.
"""
from __future__ import annotations

from typing import Any, Iterable

from .userfunc import check_positive_int


def slice_bounds(c: Any, n: int, batch_size: int) -> list[tuple[int, int]]:
    """Element index ranges ``[lo, hi)`` of each of the ``n`` slices of ``c``."""
    size = len(c)
    if isinstance(c, range):
        cuts = [int(i * size / n) for i in range(n + 1)]
        return list(zip(cuts, cuts[1:]))
    batch = max(1, min(size // n, batch_size or 1024))
    batches = -(-size // batch)
    cuts = [min(size, (i * batches // n) * batch) for i in range(n + 1)]
    return list(zip(cuts, cuts[1:]))


def parallelize(ctx: Any, c: Iterable[Any], numSlices: int | None) -> Any:
    from .lineage import ParallelCollectionRDD
    n = ctx.defaultParallelism if numSlices is None else numSlices
    check_positive_int("numSlices", n)
    data = c if isinstance(c, (list, tuple, range)) else list(c)
    slices = [data[lo:hi] for lo, hi in slice_bounds(data, n, ctx._batchSize)]
    if not isinstance(data, (range, list)):
        slices = [list(s) for s in slices]  # a list's slices are new lists already
    return ParallelCollectionRDD(ctx, slices)
