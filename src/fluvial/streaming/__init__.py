"""Streaming: StreamingContext and DStreams over micro-batches of RDDs."""
from ..core.storage import StorageLevel
from .clock import ManualClock, SystemClock
from .context import StreamingContext
from .dstream import DStream
from .listener import BatchInfo, StreamingListener
from .scheduler import BatchFailedError
from .sources.receiver import Receiver
from .state import State, StateSpec

__all__ = ["BatchFailedError", "BatchInfo", "DStream", "ManualClock", "Receiver", "State", "StateSpec",
           "StorageLevel", "StreamingContext", "StreamingListener", "SystemClock"]
