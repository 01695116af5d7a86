"""Streaming listener events and the bus that delivers them.

Events mirror the objects PySpark's listeners receive from the JVM: accessors
are methods (``batchCompleted.batchInfo().numRecords()``), times are epoch
milliseconds (wall time, also under a ManualClock, as in Spark), and a time or
delay that is not known yet is ``-1``. Each event carries its own snapshot of
the batch's information, taken when it was posted.

Order: ``onStreamingStarted`` first; then per batch that has jobs,
``onBatchSubmitted``, ``onBatchStarted``, for each output operation in order
``onOutputOperationStarted``/``onOutputOperationCompleted``, and
``onBatchCompleted``; batches are reported in time order. A batch without
jobs is not reported (as in Spark). The bus delivers
events in posting order on its own thread; an exception in one listener is
logged and does not reach the stream or other listeners.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("fluvial.streaming")


class Time:
    """A batch time in milliseconds (Spark's ``Time``)."""

    __slots__ = ("_ms",)

    def __init__(self, ms: int) -> None:
        self._ms = int(ms)

    def milliseconds(self) -> int:
        return self._ms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Time) and other._ms == self._ms

    def __hash__(self) -> int:
        return hash(self._ms)

    def __repr__(self) -> str:
        return f"{self._ms} ms"


@dataclass
class StreamInputInfo:
    _input_stream_id: int
    _num_records: int
    _metadata: dict = field(default_factory=dict)

    def inputStreamId(self) -> int:
        return self._input_stream_id

    def numRecords(self) -> int:
        return self._num_records

    def metadata(self) -> dict:
        return self._metadata

    def metadataDescription(self) -> str | None:
        return self._metadata.get("Description")


@dataclass
class OutputOperationInfo:
    _batch_time: int
    _id: int
    _name: str
    _description: str
    _start_time: int = -1
    _end_time: int = -1
    _failure_reason: str | None = None

    def batchTime(self) -> Time:
        return Time(self._batch_time)

    def id(self) -> int:
        return self._id

    def name(self) -> str:
        return self._name

    def description(self) -> str:
        return self._description

    def startTime(self) -> int:
        return self._start_time

    def endTime(self) -> int:
        return self._end_time

    def duration(self) -> int:
        if self._start_time < 0 or self._end_time < 0:
            return -1
        return self._end_time - self._start_time

    def failureReason(self) -> str | None:
        return self._failure_reason

    def _snapshot(self) -> "OutputOperationInfo":
        return dataclasses.replace(self)


@dataclass
class BatchInfo:
    """What is known about one batch. Delays are in milliseconds; ``-1`` means
    not known yet (e.g. processing delay before the batch has finished)."""

    _batch_time: int
    _stream_id_to_input_info: dict[int, StreamInputInfo]
    _submission_time: int
    _processing_start_time: int = -1
    _processing_end_time: int = -1
    _output_operation_infos: dict[int, OutputOperationInfo] = field(default_factory=dict)

    def batchTime(self) -> Time:
        return Time(self._batch_time)

    def streamIdToInputInfo(self) -> dict[int, StreamInputInfo]:
        return self._stream_id_to_input_info

    def submissionTime(self) -> int:
        return self._submission_time

    def processingStartTime(self) -> int:
        return self._processing_start_time

    def processingEndTime(self) -> int:
        return self._processing_end_time

    def schedulingDelay(self) -> int:
        if self._processing_start_time < 0:
            return -1
        return self._processing_start_time - self._submission_time

    def processingDelay(self) -> int:
        if self._processing_start_time < 0 or self._processing_end_time < 0:
            return -1
        return self._processing_end_time - self._processing_start_time

    def totalDelay(self) -> int:
        if self._processing_end_time < 0:
            return -1
        return self._processing_end_time - self._submission_time

    def numRecords(self) -> int:
        return sum(i.numRecords() for i in self._stream_id_to_input_info.values())

    def outputOperationInfos(self) -> dict[int, OutputOperationInfo]:
        return self._output_operation_infos

    def _snapshot(self) -> "BatchInfo":
        """A copy as of now: each event carries its own, as Spark's do."""
        return dataclasses.replace(self, _output_operation_infos={
            k: v._snapshot() for k, v in self._output_operation_infos.items()})


@dataclass
class ReceiverInfo:
    _stream_id: int
    _name: str
    _active: bool
    _location: str = "driver"
    _executor_id: str = "driver"
    _last_error_message: str = ""
    _last_error: str = ""
    _last_error_time: int = -1

    def streamId(self) -> int:
        return self._stream_id

    def name(self) -> str:
        return self._name

    def active(self) -> bool:
        return self._active

    def location(self) -> str:
        return self._location

    def executorId(self) -> str:
        return self._executor_id

    def lastErrorMessage(self) -> str:
        return self._last_error_message

    def lastError(self) -> str:
        return self._last_error

    def lastErrorTime(self) -> int:
        return self._last_error_time


class _Event:
    method = ""


@dataclass
class StreamingListenerStreamingStarted(_Event):
    _time: int
    method = "onStreamingStarted"

    def time(self) -> int:
        return self._time


@dataclass
class _ReceiverEvent(_Event):
    _info: ReceiverInfo

    def receiverInfo(self) -> ReceiverInfo:
        return self._info


class StreamingListenerReceiverStarted(_ReceiverEvent):
    method = "onReceiverStarted"


class StreamingListenerReceiverError(_ReceiverEvent):
    method = "onReceiverError"


class StreamingListenerReceiverStopped(_ReceiverEvent):
    method = "onReceiverStopped"


@dataclass
class _BatchEvent(_Event):
    _info: BatchInfo

    def batchInfo(self) -> BatchInfo:
        return self._info


class StreamingListenerBatchSubmitted(_BatchEvent):
    method = "onBatchSubmitted"


class StreamingListenerBatchStarted(_BatchEvent):
    method = "onBatchStarted"


class StreamingListenerBatchCompleted(_BatchEvent):
    method = "onBatchCompleted"


@dataclass
class _OutputEvent(_Event):
    _info: OutputOperationInfo

    def outputOperationInfo(self) -> OutputOperationInfo:
        return self._info


class StreamingListenerOutputOperationStarted(_OutputEvent):
    method = "onOutputOperationStarted"


class StreamingListenerOutputOperationCompleted(_OutputEvent):
    method = "onOutputOperationCompleted"


class StreamingListener:
    """Subclass and override the callbacks you need; all default to no-ops."""

    def onStreamingStarted(self, streamingStarted: StreamingListenerStreamingStarted) -> None:
        pass

    def onReceiverStarted(self, receiverStarted: StreamingListenerReceiverStarted) -> None:
        pass

    def onReceiverError(self, receiverError: StreamingListenerReceiverError) -> None:
        pass

    def onReceiverStopped(self, receiverStopped: StreamingListenerReceiverStopped) -> None:
        pass

    def onBatchSubmitted(self, batchSubmitted: StreamingListenerBatchSubmitted) -> None:
        pass

    def onBatchStarted(self, batchStarted: StreamingListenerBatchStarted) -> None:
        pass

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        pass

    def onOutputOperationStarted(self, outputOperationStarted: StreamingListenerOutputOperationStarted) -> None:
        pass

    def onOutputOperationCompleted(self, outputOperationCompleted: StreamingListenerOutputOperationCompleted) -> None:
        pass


class ListenerBus:
    """Delivers events to listeners, in order, on one daemon thread."""

    def __init__(self) -> None:
        self._listeners: list[Any] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, listener: Any) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove(self, listener: Any) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fluvial-listener-bus", daemon=True)
            self._thread.start()

    def on_bus_thread(self) -> bool:
        """Whether the caller is a listener callback (running on the bus thread)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def post(self, event: _Event) -> None:
        self._queue.put(event)

    def wait_until_empty(self, timeout: float | None = None) -> None:
        """Block until every event posted so far has been delivered, the bus
        has stopped, or ``timeout`` seconds have passed."""
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return
        done = threading.Event()
        self._queue.put(done)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.05):
            if not thread.is_alive() or (deadline is not None and time.monotonic() >= deadline):
                return

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(10)
        self._thread = None

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            if isinstance(event, threading.Event):
                event.set()
                continue
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                callback = getattr(listener, event.method, None)
                if callback is None:
                    continue
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - a listener must not break the stream
                    log.exception("streaming listener %r failed in %s", listener, event.method)
