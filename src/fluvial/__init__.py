"""fluvial: Spark Streaming's programming model for Python, without a JVM.

``from fluvial import SparkContext`` where PySpark programs say
``from pyspark import SparkContext``; the streaming API is in
:mod:`fluvial.streaming`, test helpers in :mod:`fluvial.testing`.
"""
from .core import (RDD, Accumulator, AccumulatorParam, BoundedFloat, Broadcast, JobCancelledError,
                   Partitioner, ResultIterable, SparkConf, SparkContext, SparkFiles, StatCounter,
                   StatusTracker, StorageLevel, TaskContext)
from .core.context import __version__

__all__ = ["Accumulator", "AccumulatorParam", "BoundedFloat", "Broadcast", "JobCancelledError",
           "Partitioner", "RDD", "ResultIterable", "SparkConf", "SparkContext", "SparkFiles",
           "StatCounter", "StatusTracker", "StorageLevel", "TaskContext", "__version__"]
