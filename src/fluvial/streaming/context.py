"""StreamingContext: builds the DStream graph, then runs it batch by batch.

Lifecycle (as in Spark): INITIALIZED -> ``start()`` -> ACTIVE -> ``stop()`` ->
STOPPED. A context that fails to start (no output operation, a stateful
stream without checkpoint directory, ...) is marked STOPPED. Streams and
output operations can be added only while INITIALIZED.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Sequence

from ..core.context import SparkContext
from ..core.rdd import RDD
from ..core.storage import StorageLevel
from .clock import Clock, ManualClock, clock_from_conf
from .dstream import DStream
from .graph import DStreamGraph
from .listener import ListenerBus, StreamingListener, StreamingListenerStreamingStarted
from .scheduler import BatchFailedError, JobScheduler
from .shutdown import ShutdownHook, awaiting
from .sources.base import InputInfoTracker
from .sources.queue import QueueInputDStream
from .sources.receiver import Receiver, ReceiverInputDStream, ReceiverTracker
from .util import call_site, to_ms

log = logging.getLogger("fluvial.streaming")


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
        self._setup(sparkContext, to_ms(batchDuration, "batchDuration"), clock)

    def _setup(self, sparkContext: SparkContext, batch_ms: int, clock: Clock | None) -> None:
        self._sc = sparkContext
        self._batch_ms = batch_ms
        self._clock = clock if clock is not None else clock_from_conf(sparkContext._conf)
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
        self._start_site: str | None = None
        self._recovered: Any = None          # the Checkpoint this context was rebuilt from
        self._known_checkpoints: dict[int, tuple[list[str], int]] = {}
        self._checkpoint_writer: Any = None
        self._program: dict[str, str] | None = None
        self._signature: list = []
        self._shutdown: Any = None

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
        """Rebuild the context from the newest usable metadata checkpoint in
        ``checkpointPath``, or, when there is none, create it with
        ``setupFunc()`` and set ``checkpointPath`` as its checkpoint directory.

        A recovered context has the graph, functions and configuration of the
        checkpoint (``setupFunc`` is not called); once started it first re-runs
        the batches that were pending at the checkpoint and those that fell
        due while the driver was down, then follows the clock. A corrupt or
        torn newest checkpoint falls back to the previous one with a warning;
        a checkpoint from another fluvial format, another main script or a
        graph whose code changed is refused with a
        :class:`~fluvial.streaming.checkpoint.store.CheckpointError` saying
        why. It uses the active SparkContext if there is one, else creates one
        from the checkpoint's configuration."""
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        from .checkpoint.recovery import recover
        ssc = recover(cls, checkpointPath)
        if ssc is not None:
            return ssc
        ssc = setupFunc()
        if not isinstance(ssc, StreamingContext):
            raise TypeError(f"setupFunc must return a StreamingContext, got {type(ssc).__name__}")
        ssc.checkpoint(checkpointPath)
        return ssc

    def start(self) -> None:
        """Validate the graph, fix the first batch time (the next multiple of
        the batch duration on the clock) and start receivers and batch
        generation. Starting an ACTIVE context only logs a warning (as in
        Spark); starting a STOPPED one is an error. If validation fails the
        error is raised and the context is marked STOPPED."""
        with StreamingContext._lock:
            if self._state == "ACTIVE":
                # Spark only logs this; starting twice is a bug in the program, so fluvial says so
                raise RuntimeError("StreamingContext has already been started: start() may be called once")
            if self._state == "STOPPED":
                raise RuntimeError("StreamingContext has already been stopped")
            active = StreamingContext._activeContext
            if active is not None and active is not self:
                raise RuntimeError("Only one StreamingContext may be started in this process. Currently "
                                   f"running StreamingContext was started at {active._start_site}")
            try:
                self._sc._check_active()
                self._graph.validate()
                self._scheduler.start()
                self._start_checkpointing()
                self._shutdown = ShutdownHook.install(self)
                self._bus.start()
                self._bus.post(StreamingListenerStreamingStarted(int(time.time() * 1000)))
                self._receiver_tracker.start()
            except BaseException:
                log.error("Error starting the context, marking it as stopped")
                if self._shutdown is not None:
                    self._shutdown.uninstall()
                self._state = "STOPPED"
                self._receiver_tracker.stop()
                self._graph.stop()
                self._bus.stop()
                self._terminated.set()
                raise
            self._start_site = call_site()
            self._state = "ACTIVE"
            StreamingContext._activeContext = self
            if isinstance(self._clock, ManualClock):
                self._clock._attach(self._drain)
            # the first batch's tasks would otherwise import the engine in
            # every worker: 70-230 ms added to that batch
            self._sc._preload_workers(m for m in list(sys.modules) if m.partition(".")[0] == "fluvial")
            self._scheduler.start_threads()
            if self._shutdown is not None:
                self._shutdown.started()

    def _start_checkpointing(self) -> None:
        """With a checkpoint directory: check that the graph can be saved
        (Spark's validate), then write metadata checkpoints from now on."""
        if self._checkpoint_dir is None:
            return
        from .checkpoint.metadata import CheckpointError, CheckpointWriter, graph_signature, main_script, serialize
        self._program = main_script()
        self._signature = graph_signature(self._graph)
        try:
            serialize(self, 0, [])
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with what to do
            raise ValueError("DStream checkpointing has been enabled but the DStreams with their functions "
                             f"are not serializable: {type(exc).__name__}: {exc}") from exc
        self._checkpoint_writer = CheckpointWriter(self, self._checkpoint_dir, known=self._known_checkpoints)

    def _drain(self, until_ms: int) -> None:
        """ManualClock hook: wait for batches due by ``until_ms`` and their events."""
        if self._state != "ACTIVE":
            return
        self._scheduler.wait_until_done(until_ms)
        self._bus.wait_until_empty()

    def stop(self, stopSparkContext: bool = True, stopGraceFully: bool = False) -> None:
        """Stop receiving and generating batches; the context is then STOPPED
        for good (stopping twice is harmless).

        Without grace, batches not yet started are dropped and the job
        running is given 2 s to finish (as in Spark); one still running then
        is left behind, its batch never completed, and the stop goes on. With
        ``stopGraceFully``, receivers stop first, batches are generated (at
        once, without waiting for the clock) until every record they stored
        and every RDD still queued in a ``queueStream`` is in a batch, and all
        batches are processed, waiting at most
        ``spark.streaming.gracefulStopTimeout`` (default 10 batch durations;
        after it, as without grace).

        Called from inside an output operation (e.g. a foreachRDD function),
        ``stop`` returns at once: no further job starts (with grace, the
        remaining batches still run) and the context finishes stopping on
        another thread once that operation returns; ``awaitTermination``
        returns after that. Calling it from a listener callback is an error."""
        if self._bus.on_bus_thread():
            raise RuntimeError("Cannot stop StreamingContext within listener bus thread.")
        if self._scheduler.on_scheduler_thread():
            if not stopGraceFully:
                self._scheduler.abort()
            threading.Thread(target=self._stop, args=(stopSparkContext, stopGraceFully),
                             name="fluvial-stop", daemon=True).start()
            return
        self._stop(stopSparkContext, stopGraceFully)

    def _stop(self, stopSparkContext: bool, stopGraceFully: bool) -> None:
        with self._stop_lock:
            if self._state == "ACTIVE":
                try:
                    self._stop_streaming(stopGraceFully)
                finally:
                    self._mark_stopped()
            elif self._state == "INITIALIZED":
                log.warning("StreamingContext has not been started yet")
                self._mark_stopped()
            if stopSparkContext:
                self._sc.stop()

    def _mark_stopped(self) -> None:
        if self._shutdown is not None:
            self._shutdown.uninstall()
        self._state = "STOPPED"
        with StreamingContext._lock:
            if StreamingContext._activeContext is self:
                StreamingContext._activeContext = None
        self._terminated.set()

    def _pending_input(self) -> bool:
        """Received data not yet in a batch: receiver blocks, queued RDDs."""
        if self._receiver_tracker.has_unallocated():
            return True
        return any(isinstance(s, QueueInputDStream) and len(s.queue) > 0 for s in self._graph.input_streams)

    def _stop_streaming(self, graceful: bool) -> None:
        sched = self._scheduler
        self._receiver_tracker.stop()
        sched.stop_generating()
        if graceful and self._error is None:
            timeout = self._sc._conf.getSeconds("spark.streaming.gracefulStopTimeout",
                                                10 * self._batch_ms / 1000.0)
            deadline = time.monotonic() + timeout
            sched.generate_pending(self._pending_input, deadline)
            if self._pending_input():
                log.warning("graceful stop timed out after %.1f s with received data not yet in a batch",
                            timeout)
            sched.stop_running(drain=True, timeout=max(0.0, deadline - time.monotonic()))
        else:
            sched.stop_running(drain=False)
        self._graph.stop()
        if self._checkpoint_writer is not None:
            try:
                self._checkpoint_writer.close()
            except Exception as exc:  # noqa: BLE001 - the context stops anyway; the error is kept
                log.error("the last metadata checkpoint could not be written: %s", exc)
                if self._error is None:
                    self._error = exc
        self._bus.wait_until_empty(10)
        self._bus.stop()
        if isinstance(self._clock, ManualClock):
            self._clock._detach(self._drain)

    def _report_error(self, error: BaseException) -> None:
        """A batch failed: remember the error (raised by awaitTermination) and
        stop the context, on another thread since the caller is a scheduler thread."""
        if self._error is None:
            self._error = error
        self._scheduler.abort()
        threading.Thread(target=self._stop, args=(False, False), daemon=True,
                         name="fluvial-stop-on-error").start()

    def _on_batch_completed(self, info: Any) -> None:
        for callback in list(self._batch_listeners):
            callback(info)

    def awaitTermination(self, timeout: float | None = None) -> None:
        """Wait for the context to stop (at most ``timeout`` seconds). If a
        batch failed, raise its :class:`BatchFailedError` (every time)."""
        with awaiting():
            self._terminated.wait(timeout)
        if self._error is not None:
            raise self._error

    def awaitTerminationOrTimeout(self, timeout: float) -> bool:
        """True if the context stopped within ``timeout`` seconds, False if
        not; a failed batch's :class:`BatchFailedError` is raised."""
        with awaiting():
            stopped = self._terminated.wait(timeout)
        if self._error is not None:
            raise self._error
        return stopped

    # --------------------------------------------------------------- settings
    def remember(self, duration: float) -> None:
        """Keep each stream's RDDs for at least ``duration`` seconds (so that
        ``slice`` or a later batch can still use them). Can be set once."""
        self._graph.remember(to_ms(duration, "remember duration"))

    def checkpoint(self, directory: str) -> None:
        """Checkpoint into ``directory`` (a local path, ``file://``,
        ``memory://`` or any fsspec URL; created if needed): metadata
        checkpoints after each batch is generated and after it completes
        (what :meth:`getOrCreate` recovers from), data checkpoints of
        stateful and checkpointed streams under ``rdds/``, and receiver
        write-ahead logs under ``receivedData/``."""
        from ..core import fsio
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"checkpoint: directory must be a path or URL, got {directory!r}")
        directory = fsio.canonical(os.fspath(directory))
        fsio.makedirs(directory)
        self._checkpoint_dir = directory
        self._sc.setCheckpointDir(fsio.join(directory, "rdds"))

    def addStreamingListener(self, streamingListener: StreamingListener) -> None:
        self._bus.add(streamingListener)

    def removeStreamingListener(self, streamingListener: StreamingListener) -> None:
        self._bus.remove(streamingListener)

    # ---------------------------------------------------------------- sources
    def queueStream(self, rdds: Sequence[Any], oneAtATime: bool = True, default: Any = None) -> DStream:
        """A stream of the given RDDs (or lists, parallelized), one per batch
        (``oneAtATime``) or all in the first batch; once they are used up,
        ``default`` (an RDD or a list) every batch, or empty batches. Later
        changes to ``rdds`` are not seen. As in PySpark, when ``rdds`` is
        empty and a ``default`` is given, the first batch is empty."""
        if default and not isinstance(default, RDD):
            default = self._sc.parallelize(default)
        rdds = list(rdds)
        if not rdds and default:
            rdds = [[]]
        rdds = [r if isinstance(r, RDD) else self._sc.parallelize(r) for r in rdds]
        return QueueInputDStream(self, rdds, oneAtATime, default or None)

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
        """One stream of the records of all ``dstreams`` (same slide
        duration), batch by batch, in argument order."""
        from .combine import UnionDStream
        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        if len(dstreams) == 1:
            return dstreams[0]
        if len({s._slide_ms for s in dstreams}) > 1:
            raise ValueError("All DStreams should have same slide duration: "
                             + ", ".join(f"{s._slide_ms} ms" for s in dstreams))
        return UnionDStream(list(dstreams))

    def transform(self, dstreams: Sequence[DStream], transformFunc: Callable[..., RDD]) -> DStream:
        """A stream whose RDD is ``transformFunc(rdds)``, ``rdds`` being the
        tuple of the streams' RDDs of the batch, in the order of ``dstreams``
        (which must share their slide duration)."""
        from .combine import MultiTransformedDStream
        if not dstreams:
            raise ValueError("transform needs at least one DStream")
        return MultiTransformedDStream(list(dstreams), _ignore_time(transformFunc))


__all__ = ["StreamingContext", "BatchFailedError"]


def _ignore_time(func: Callable[..., Any]) -> Callable[..., Any]:
    def call(_t: Any, rdds: tuple) -> Any:
        return func(rdds)
    return call
