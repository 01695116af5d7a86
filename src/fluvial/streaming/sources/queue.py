"""queueStream: batches from a list of RDDs (for tests and demos)."""
from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any

from ...core.rdd import RDD
from .base import InputDStream

if TYPE_CHECKING:
    from ..context import StreamingContext


class QueueInputDStream(InputDStream):
    """Each batch takes the next RDD of the queue (``oneAtATime``) or the union
    of all queued RDDs; with the queue empty, the ``default`` RDD or an empty
    RDD of one partition (as Spark). RDDs appended to ``queue`` (a ``collections.deque``) after creation are
    picked up too.

    A queue lives in the driver's memory only, so a context with a queue
    stream cannot be recovered from a checkpoint (as in Spark); its metadata
    checkpoints leave the queue out and recovery refuses them."""

    _transient = ("queue", "default", "_qlock")

    def __init__(self, ssc: "StreamingContext", rdds: list[RDD], one_at_a_time: bool,
                 default: RDD | None) -> None:
        super().__init__(ssc)
        self.queue: collections.deque[RDD] = collections.deque(rdds)
        self.one_at_a_time = one_at_a_time
        self.default = default
        self._qlock = threading.Lock()

    def _after_restore(self) -> None:
        raise ValueError(f"{self.name}: queueStream doesn't support checkpointing: its RDDs live only in "
                         "the memory of the driver that crashed. Use a replayable source (files, Kafka, a "
                         "receiver with the write-ahead log) for an application recovered with getOrCreate, "
                         "or delete the checkpoint directory to start afresh.")

    def _compute(self, t: int) -> RDD | None:
        with self._qlock:
            if self.one_at_a_time and self.queue:
                taken = [self.queue.popleft()]
            else:
                taken = list(self.queue)
                self.queue.clear()
        if taken:
            rdd = taken[0] if len(taken) == 1 else self._sc.union(taken)
        elif self.default is not None:
            rdd = self.default
            taken = [rdd]
        else:
            rdd = self._sc.parallelize([], 1)  # Spark's default: one empty partition
        self._report(t, sum(_local_count(r) for r in taken))
        return rdd


def _local_count(rdd: Any) -> int:
    """Records in a parallelized RDD, known without running a job (else 0)."""
    from ...core.lineage import ParallelCollectionRDD
    if isinstance(rdd, ParallelCollectionRDD):
        return sum(rdd.slice_sizes)
    return 0
