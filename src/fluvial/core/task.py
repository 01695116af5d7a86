"""What one task is, and how any executor runs it.

A task is (stage, split, inputs). The stage holds the RDD whose partition is
computed and what to do with the records: hand them to a result function, or
split them into shuffle buckets. ``inputs`` holds every materialised block the
task reads (parallelized slices, cached partitions, shuffle buckets), so a task
never calls back into the driver. It returns its value, the blocks it created
(newly cached partitions) and its accumulator updates; the driver applies those
only when the task succeeds, so a failed or retried task leaves no trace.

Which failures are retried (:func:`is_retryable`) is decided here, for every
executor alike; the executors count attempts per task against
``spark.task.maxFailures`` and raise :class:`TaskRetriesExhaustedError` when a
task has used them all.
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


class WorkerLostError(RuntimeError):
    """A worker process died while running a task (killed, crashed, out of memory)."""


class BlocksLostError(WorkerLostError):
    """Cached blocks a task reads were lost with the worker process that kept
    them. The task cannot run as planned: the scheduler plans the stage again,
    recomputing those blocks from lineage.

    ``failures`` maps each partition whose task was stopped this way to how
    many of its attempts have failed so far, carried over to the re-planned
    tasks (empty when no task was running, e.g. for a fetch)."""

    def __init__(self, message: str, failures: dict[int, int] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[int, int] = dict(failures or {})


class TaskRetriesExhaustedError(RuntimeError):
    """A task failed ``spark.task.maxFailures`` times, each time with a
    retryable failure; the job fails. The last failure is ``__cause__`` (with
    its original type); the message names the stage, the partition and the
    number of attempts, as Spark's "Task 2 in stage 5 failed 4 times, most
    recent failure: ..." does."""

    def __init__(self, stage: "Stage", split: int, attempts: int, cause: BaseException) -> None:
        what = f"{stage.kind} stage {stage.stage_id} ({stage.rdd!r}" + (
            f": {stage.description})" if stage.description else ")")
        times = "1 time" if attempts == 1 else f"{attempts} times"
        super().__init__(f"Task for partition {split} in {what} failed {times} (maxFailures is "
                         f"{attempts}); most recent failure: {type(cause).__name__}: {cause}")
        self.stage_id = stage.stage_id
        self.partition = split
        self.attempts = attempts


# Raised inside a task, these say "the outside world hiccuped": a connection
# refused or reset, a timeout, a truncated read. OSError subclasses that name a
# path or a permission are deterministic and fail at once, like user errors.
_DETERMINISTIC_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError,
                            NotADirectoryError, PermissionError)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed task attempt is tried again (within
    ``spark.task.maxFailures``): its worker process died, or it raised a
    transient I/O error (``OSError`` and subclasses such as ``ConnectionError``
    and ``TimeoutError``, or ``EOFError``) other than a missing or misplaced
    path or a denied permission. Every other exception is taken as a bug or
    bad data, which would fail the same way again, and fails the job at once
    with its own type.

    This differs from a Spark cluster, which retries every failed task: there
    a failure may come from the executor's machine (disk, memory, JVM), so a
    retry elsewhere can help. Here a deterministic error in user code would
    only run again in an identical process and fail identically, and the
    user gets back the exception their code raised (as in Spark's ``local``
    mode, which does not retry at all)."""
    if isinstance(exc, WorkerLostError):
        return not isinstance(exc, BlocksLostError)
    return isinstance(exc, (OSError, EOFError)) and not isinstance(exc, _DETERMINISTIC_OS_ERRORS)


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
    a task must run on that worker. ``attempt`` counts this partition's
    failed attempts so far (kept when a stage is planned again)."""

    split: int
    inputs: dict
    resident: dict = field(default_factory=dict)
    attempt: int = 0  # failed attempts before this one (TaskContext.attemptNumber)


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
