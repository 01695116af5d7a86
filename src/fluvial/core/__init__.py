"""The batch engine: RDDs, partitioning, shuffle, scheduling and executors.

Nothing here knows about streaming."""
from .accumulators import Accumulator, AccumulatorParam
from .broadcast import Broadcast
from .conf import SparkConf
from .context import SparkContext
from .rdd import RDD
from .resultiterable import ResultIterable
from .statcounter import StatCounter
from .storage import StorageLevel
from .task import TaskContext

__all__ = ["Accumulator", "AccumulatorParam", "Broadcast", "RDD", "ResultIterable", "SparkConf",
           "SparkContext", "StatCounter", "StorageLevel", "TaskContext"]
