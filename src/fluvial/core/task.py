"""What one task is, and how any executor runs it.

A task is (stage, split, inputs). The stage holds the RDD whose partition is
computed and what to do with the records: hand them to a result function, or
split them into shuffle buckets. ``inputs`` holds every materialised block the
task reads (parallelized slices, cached partitions, shuffle buckets), so a task
never calls back into the driver. It returns its value, the blocks it created
(newly cached partitions) and its accumulator updates; the driver applies those
only when the task succeeds, so a failed or retried task leaves no trace.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .shuffle import Partitioner, write_buckets

_local = threading.local()


@dataclass
class Stage:
    """One pass over ``rdd``'s partitions. ``kind`` is ``"result"`` (``func``
    maps an iterator of records to a task result) or ``"shuffle"`` (records are
    bucketed by ``partitioner``)."""

    stage_id: int
    rdd: Any
    kind: str
    func: Callable[[Any], Any] | None = None
    partitioner: Partitioner | None = None
    description: str = ""


@dataclass
class TaskContext:
    stage_id: int
    split: int
    attempt: int
    inputs: dict
    new_blocks: dict = field(default_factory=dict)
    accumulator_updates: dict = field(default_factory=dict)

    def partitionId(self) -> int:
        return self.split

    def stageId(self) -> int:
        return self.stage_id

    def attemptNumber(self) -> int:
        return self.attempt

    @staticmethod
    def get() -> "TaskContext | None":
        return getattr(_local, "task", None)


@dataclass
class TaskResult:
    value: Any
    new_blocks: dict
    accumulator_updates: dict
    worker: Any = None  # set when the new blocks stayed in that worker process


@dataclass
class TaskSpec:
    """One task to run: its partition, the blocks shipped with it, and the
    blocks it reads that a worker process keeps (block id -> worker key); such
    a task must run on that worker."""

    split: int
    inputs: dict
    resident: dict = field(default_factory=dict)


def run_task(stage: Stage, split: int, inputs: dict, attempt: int = 0) -> TaskResult:
    """Compute one partition of ``stage``. Exceptions from user code propagate."""
    ctx = TaskContext(stage.stage_id, split, attempt, inputs)
    previous = getattr(_local, "task", None)
    _local.task = ctx
    try:
        records = stage.rdd.iterator(split, ctx)
        if stage.kind == "shuffle":
            value = write_buckets(records, stage.partitioner)  # type: ignore[arg-type]
        else:
            value = stage.func(records)  # type: ignore[misc]
    except StopIteration as exc:
        # escaped from a user function called outside a generator (reduce, foreach, ...)
        raise RuntimeError("Caught StopIteration thrown from user's code; failing the task") from exc
    finally:
        _local.task = previous
    return TaskResult(value, ctx.new_blocks, ctx.accumulator_updates)
