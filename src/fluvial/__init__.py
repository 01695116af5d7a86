"""fluvial: Spark Streaming's programming model for Python, without a JVM.

``from fluvial import SparkContext`` where PySpark programs say
``from pyspark import SparkContext``; the streaming API is in
:mod:`fluvial.streaming`, test helpers in :mod:`fluvial.testing`.

Importing ``fluvial`` loads nothing else: each public name is imported from
:mod:`fluvial.core` on first use (PEP 562), so a worker process started as
``python -m fluvial.core.worker`` starts without loading the engine.
"""
from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

__all__ = ["Accumulator", "AccumulatorParam", "BoundedFloat", "Broadcast", "JobCancelledError",
           "Partitioner", "RDD", "ResultIterable", "SparkConf", "SparkContext", "SparkFiles",
           "StatCounter", "StatusTracker", "StorageLevel", "TaskContext", "__version__"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import core
    value = getattr(core, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .core import (RDD, Accumulator, AccumulatorParam, BoundedFloat, Broadcast, JobCancelledError,
                       Partitioner, ResultIterable, SparkConf, SparkContext, SparkFiles, StatCounter,
                       StatusTracker, StorageLevel, TaskContext)
