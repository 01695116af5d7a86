"""fluvial: Spark Streaming's programming model for Python, without a JVM.

``from fluvial import SparkContext`` where PySpark programs say
``from pyspark import SparkContext``; the streaming API is in
:mod:`fluvial.streaming`.
"""
from .core import (RDD, Accumulator, AccumulatorParam, Broadcast, ResultIterable, SparkConf,
                   SparkContext, StatCounter, StorageLevel, TaskContext)
from .core.context import __version__

__all__ = ["Accumulator", "AccumulatorParam", "Broadcast", "RDD", "ResultIterable", "SparkConf",
           "SparkContext", "StatCounter", "StorageLevel", "TaskContext", "__version__"]
