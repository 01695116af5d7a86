"""The batch engine: RDDs, partitioning, shuffle, scheduling and executors.

Nothing here knows about streaming.

The public names are imported on first use (PEP 562), so importing a
submodule -- as a worker process does with ``python -m
fluvial.core.worker`` -- does not load the whole engine first."""
from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

_EXPORTS = {
    "Accumulator": "accumulators", "AccumulatorParam": "accumulators", "Broadcast": "broadcast",
    "SparkConf": "conf", "SparkContext": "context", "JobCancelledError": "jobs", "SparkExecutorInfo": "jobs",
    "SparkJobInfo": "jobs", "SparkStageInfo": "jobs", "StatusTracker": "jobs", "BoundedFloat": "numeric",
    "RDD": "rdd", "ResultIterable": "resultiterable", "Partitioner": "shuffle", "portable_hash": "shuffle",
    "SparkFiles": "sparkfiles", "StatCounter": "statcounter", "StorageLevel": "storage", "TaskContext": "task",
}

__all__ = ["Accumulator", "AccumulatorParam", "BoundedFloat", "Broadcast", "JobCancelledError", "Partitioner",
           "RDD", "ResultIterable", "SparkConf", "SparkContext", "SparkExecutorInfo", "SparkFiles",
           "SparkJobInfo", "SparkStageInfo", "StatCounter", "StatusTracker", "StorageLevel", "TaskContext",
           "portable_hash"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(f"{__name__}.{module}")
    value = getattr(sys.modules[f"{__name__}.{module}"], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from .accumulators import Accumulator, AccumulatorParam
    from .broadcast import Broadcast
    from .conf import SparkConf
    from .context import SparkContext
    from .jobs import JobCancelledError, SparkExecutorInfo, SparkJobInfo, SparkStageInfo, StatusTracker
    from .numeric import BoundedFloat
    from .rdd import RDD
    from .resultiterable import ResultIterable
    from .shuffle import Partitioner, portable_hash
    from .sparkfiles import SparkFiles
    from .statcounter import StatCounter
    from .storage import StorageLevel
    from .task import TaskContext
