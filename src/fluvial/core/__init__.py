"""The batch engine: RDDs, partitioning, shuffle, scheduling and executors.

Nothing here knows about streaming."""
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

__all__ = ["Accumulator", "AccumulatorParam", "BoundedFloat", "Broadcast", "JobCancelledError", "Partitioner",
           "RDD", "ResultIterable", "SparkConf", "SparkContext", "SparkExecutorInfo", "SparkFiles",
           "SparkJobInfo", "SparkStageInfo", "StatCounter", "StatusTracker", "StorageLevel", "TaskContext",
           "portable_hash"]
