"""StreamingContext: builds the DStream graph, then runs it batch by batch."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Sequence

from ..core.context import SparkContext
from ..core.rdd import RDD
from ..core.storage import StorageLevel
from .clock import Clock, ManualClock, SystemClock
from .dstream import DStream
from .graph import DStreamGraph
from .listener import ListenerBus, StreamingListener, StreamingListenerStreamingStarted
from .scheduler import BatchFailedError, JobScheduler
from .sources.base import InputInfoTracker
from .sources.queue import QueueInputDStream
from .sources.receiver import Receiver, ReceiverInputDStream, ReceiverTracker
from .util import positional_arity, to_ms

log = logging.getLogger("fluvial.streaming")

_MANUAL_CLOCK_NAMES = {"org.apache.spark.util.ManualClock", "fluvial.streaming.clock.ManualClock",
                       "fluvial.testing.ManualClock", "manual"}


class StreamingContext:
    """Entry point of a streaming application.

    Build the graph (sources, transformations, at least one output operation),
    then ``start()``; batches are generated every ``batchDuration`` seconds on
    the context's clock (wall time, or a :class:`~fluvial.streaming.clock.ManualClock`
    passed as ``clock=`` or selected with ``spark.streaming.clock``). Only one
    context can be active per process. A failed batch stops the context and
    its error is raised by :meth:`awaitTermination`.
    """

    _activeContext: "StreamingContext | None" = None
    _lock = threading.RLock()

    def __init__(self, sparkContext: SparkContext, batchDuration: float | None = None, jssc: Any = None,
                 clock: Clock | None = None) -> None:
        if batchDuration is None:
            raise ValueError("batchDuration (seconds) is required to create a StreamingContext")
        self._sc = sparkContext
        self._batch_ms = to_ms(batchDuration, "batchDuration")
        if clock is None:
            name = sparkContext._conf.get("spark.streaming.clock")
            if name in _MANUAL_CLOCK_NAMES:
                clock = ManualClock()
            elif name is not None and name not in ("org.apache.spark.util.SystemClock", "system"):
                raise ValueError(f"spark.streaming.clock={name!r} is not a known clock; use 'manual' or 'system'")
            else:
                clock = SystemClock()
        self._clock = clock
        self._graph = DStreamGraph(self._batch_ms)
        self._input_info = InputInfoTracker()
        self._bus = ListenerBus()
        self._receiver_tracker = ReceiverTracker(self)
        self._scheduler = JobScheduler(self)
        self._checkpoint_dir: str | None = None
        self._state = "INITIALIZED"
        self._terminated = threading.Event()
        self._error: BaseException | None = None
        self._stop_lock = threading.RLock()
        self._batch_listeners: list[Callable[[Any], None]] = []

    # ------------------------------------------------------------ properties
    @property
    def sparkContext(self) -> SparkContext:
        return self._sc

    @property
    def clock(self) -> Clock:
        """The clock batches are generated on (fluvial addition)."""
        return self._clock

    def getState(self) -> str:
        return self._state

    def _check_can_add_stream(self) -> None:
        if self._state == "ACTIVE":
            raise RuntimeError("Adding new inputs, transformations, and output operations after "
                               "starting a context is not supported")
        if self._state == "STOPPED":
            raise RuntimeError("Adding new inputs, transformations, and output operations after "
                               "stopping a context is not supported")

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def getActive(cls) -> "StreamingContext | None":
        return cls._activeContext

    @classmethod
    def getActiveOrCreate(cls, checkpointPath: str | None, setupFunc: Callable[[], "StreamingContext"]) -> "StreamingContext":
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        active = cls.getActive()
        if active is not None:
            return active
        if checkpointPath is not None:
            return cls.getOrCreate(checkpointPath, setupFunc)
        return setupFunc()

    @classmethod
    def getOrCreate(cls, checkpointPath: str, setupFunc: Callable[[], "StreamingContext"]) -> "StreamingContext":
        """Build the context with ``setupFunc()``.

        Recovery from a metadata checkpoint in ``checkpointPath`` belongs to the
        fault-tolerance layer, which does not write metadata checkpoints yet: so
        far every call builds a new context."""
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        ssc = setupFunc()
        if not isinstance(ssc, StreamingContext):
            raise TypeError(f"setupFunc must return a StreamingContext, got {type(ssc).__name__}")
        return ssc

    def start(self) -> None:
        """Validate the graph and start receivers and batch generation."""
        with StreamingContext._lock:
            if self._state == "ACTIVE":
                raise RuntimeError("StreamingContext has already been started")
            if self._state == "STOPPED":
                raise RuntimeError("StreamingContext has already been stopped")
            active = StreamingContext._activeContext
            if active is not None and active is not self:
                raise RuntimeError("Only one StreamingContext may be started in this process; stop the "
                                   "active one first")
            self._sc._check_active()
            self._graph.validate()
            self._state = "ACTIVE"
            StreamingContext._activeContext = self
            self._bus.start()
            if isinstance(self._clock, ManualClock):
                self._clock._attach(self._drain)
            try:
                self._receiver_tracker.start()
                self._scheduler.start()
            except BaseException:
                self._state = "INITIALIZED"
                StreamingContext._activeContext = None
                raise
            self._bus.post(StreamingListenerStreamingStarted(int(time.time() * 1000)))

    def _drain(self, until_ms: int) -> None:
        """ManualClock hook: wait for batches due by ``until_ms`` and their events."""
        if self._state != "ACTIVE":
            return
        self._scheduler.wait_until_done(until_ms)
        self._bus.wait_until_empty()

    def stop(self, stopSparkContext: bool = True, stopGraceFully: bool = False) -> None:
        """Stop receiving and generating batches.

        Without grace, the batch being processed finishes and queued ones are
        dropped. With ``stopGraceFully`` receivers stop first and every record
        they already stored is processed (waiting at most
        ``spark.streaming.gracefulStopTimeout``, default 10 batch durations)."""
        with self._stop_lock:
            if self._state == "ACTIVE":
                self._stop_streaming(stopGraceFully)
            self._state = "STOPPED"
            with StreamingContext._lock:
                if StreamingContext._activeContext is self:
                    StreamingContext._activeContext = None
            self._terminated.set()
            if stopSparkContext:
                self._sc.stop()

    def _stop_streaming(self, graceful: bool) -> None:
        sched = self._scheduler
        self._receiver_tracker.stop()
        if graceful:
            timeout = self._sc._conf.getSeconds("spark.streaming.gracefulStopTimeout",
                                                10 * self._batch_ms / 1000.0)
            deadline = time.monotonic() + timeout
            while self._receiver_tracker.has_unallocated() and time.monotonic() < deadline \
                    and self._error is None:
                time.sleep(0.01)
            if self._receiver_tracker.has_unallocated():
                log.warning("graceful stop timed out after %.1f s with received data not yet processed", timeout)
            sched.wait_until_done(sched.last_generated, max(0.0, deadline - time.monotonic()))
        sched.stop_generating()
        sched.stop_running(drain=graceful)
        self._graph.stop()
        self._bus.wait_until_empty(10)
        self._bus.stop()
        if isinstance(self._clock, ManualClock):
            self._clock._detach(self._drain)

    def _report_error(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        threading.Thread(target=self.stop, kwargs={"stopSparkContext": False}, daemon=True,
                         name="fluvial-stop-on-error").start()

    def _on_batch_completed(self, info: Any) -> None:
        for callback in self._batch_listeners:
            callback(info)

    def awaitTermination(self, timeout: float | None = None) -> None:
        """Wait for the context to stop (at most ``timeout`` seconds); re-raise
        the error of a failed batch as :class:`BatchFailedError`."""
        self._terminated.wait(timeout)
        if self._error is not None:
            raise self._error

    def awaitTerminationOrTimeout(self, timeout: float) -> bool:
        """True if the context stopped within ``timeout`` seconds."""
        stopped = self._terminated.wait(timeout)
        if self._error is not None:
            raise self._error
        return stopped

    # --------------------------------------------------------------- settings
    def remember(self, duration: float) -> None:
        """Keep each stream's RDDs for at least ``duration`` seconds."""
        self._graph.remember_ms = to_ms(duration, "remember duration")

    def checkpoint(self, directory: str) -> None:
        """Set the directory for checkpoints of stateful streams."""
        os.makedirs(directory, exist_ok=True)
        self._checkpoint_dir = directory
        self._sc.setCheckpointDir(os.path.join(directory, "rdds"))

    def addStreamingListener(self, streamingListener: StreamingListener) -> None:
        self._bus.add(streamingListener)

    def removeStreamingListener(self, streamingListener: StreamingListener) -> None:
        self._bus.remove(streamingListener)

    # ---------------------------------------------------------------- sources
    def queueStream(self, rdds: Sequence[Any], oneAtATime: bool = True, default: Any = None) -> DStream:
        """A stream of the given RDDs (or lists, parallelized), one per batch
        (``oneAtATime``) or all in the first batch; then ``default`` or empty batches."""
        if default is not None and not isinstance(default, RDD):
            default = self._sc.parallelize(default)
        rdds = list(rdds)
        rdds = [r if isinstance(r, RDD) else self._sc.parallelize(r) for r in rdds]
        return QueueInputDStream(self, rdds, oneAtATime, default)

    def receiverStream(self, receiver: Receiver) -> DStream:
        """A stream of what a custom :class:`Receiver` stores."""
        return ReceiverInputDStream(self, receiver)

    def socketTextStream(self, hostname: str, port: int,
                         storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> DStream:  # type: ignore[attr-defined]
        """Lines (UTF-8, ``\\n``-separated) read from a TCP server at ``hostname:port``."""
        from .sources.socket import SocketReceiver
        return self.receiverStream(SocketReceiver(hostname, port, storageLevel))

    def textFileStream(self, directory: str) -> DStream:
        """Lines of files that appear in ``directory`` (moved in atomically) after the start."""
        from .sources.files import FileInputDStream
        return FileInputDStream(self, directory, "text")

    def binaryRecordsStream(self, directory: str, recordLength: int) -> DStream:
        """Fixed-length records of files that appear in ``directory`` after the start."""
        from .sources.files import FileInputDStream
        return FileInputDStream(self, directory, "binary", recordLength)

    # ------------------------------------------------------------- combinators
    def union(self, *dstreams: DStream) -> DStream:
        """One stream of the records of all ``dstreams``, batch by batch."""
        from .combine import UnionDStream
        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        if len(dstreams) == 1:
            return dstreams[0]
        if len({s._slide_ms for s in dstreams}) > 1:
            raise ValueError("All DStreams should have same slide duration")
        return UnionDStream(list(dstreams))

    def transform(self, dstreams: Sequence[DStream], transformFunc: Callable[[list[RDD]], RDD | None]) -> DStream:
        """A stream whose RDD is ``transformFunc([rdd of each stream])``."""
        from .combine import MultiTransformedDStream
        if not dstreams:
            raise ValueError("transform needs at least one DStream")
        if len({s._slide_ms for s in dstreams}) > 1:
            raise ValueError("All DStreams should have same slide duration")
        return MultiTransformedDStream(list(dstreams), lambda t, rdds: transformFunc(rdds))


__all__ = ["StreamingContext", "BatchFailedError", "positional_arity"]
