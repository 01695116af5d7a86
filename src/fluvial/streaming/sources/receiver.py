"""Receivers: push sources that run in the driver and store records into blocks.

Write a source by subclassing :class:`Receiver`: ``onStart`` starts whatever
threads read the source (it must not block), they call ``store`` per record or
``storeAll`` per batch of records, and ``onStop`` releases resources.

Guarantees: a record passed to ``store`` belongs to the first batch whose time
is generated after the call returns; ``storeAll`` returns only once its records
form a stored block (so a reliable receiver may acknowledge its source then).
Records are never dropped while the context runs; when the context stops
without grace, records stored but not yet allocated to a batch are discarded,
and a graceful stop processes them first.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Iterable

from ...core.lineage import ParallelCollectionRDD
from ...core.rdd import RDD
from ...core.storage import StorageLevel
from ..listener import (ReceiverInfo, StreamingListenerReceiverError, StreamingListenerReceiverStarted,
                        StreamingListenerReceiverStopped)
from ..rate import RateLimiter
from .base import InputDStream

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming")


class Receiver:
    """Base class of push sources. See the module docstring for the contract."""

    def __init__(self, storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> None:  # type: ignore[attr-defined]
        self.storageLevel = storageLevel
        self._supervisor: ReceiverSupervisor | None = None
        self._stream_id = -1

    # -- to override --------------------------------------------------------
    def onStart(self) -> None:
        raise TypeError(f"{type(self).__name__} must override onStart()")

    def onStop(self) -> None:
        """Release what onStart acquired. Called on stop and before a restart."""

    def preferredLocation(self) -> str | None:
        return None

    # -- to call ------------------------------------------------------------
    @property
    def streamId(self) -> int:
        return self._stream_id

    def store(self, dataItem: Any) -> None:
        """Buffer one record; it is cut into a block within the block interval."""
        self._sup().push_single(dataItem)

    def storeAll(self, items: Iterable[Any]) -> None:
        """Store records as one block; returns once the block is stored."""
        self._sup().push_block(list(items))

    def isStarted(self) -> bool:
        return self._supervisor is not None and self._supervisor.receiver_state == "started"

    def isStopped(self) -> bool:
        return self._supervisor is None or self._supervisor.receiver_state != "started"

    def restart(self, message: str, error: BaseException | None = None, millisecond: int | None = None) -> None:
        """Stop, wait ``millisecond`` (default ``spark.streaming.receiverRestartDelay``), start again."""
        self._sup().restart(message, error, millisecond)

    def stop(self, message: str, error: BaseException | None = None) -> None:
        self._sup().stop_receiver(message, error)

    def reportError(self, message: str, error: BaseException | None = None) -> None:
        self._sup().report_error(message, error)

    def _sup(self) -> "ReceiverSupervisor":
        if self._supervisor is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a running StreamingContext")
        return self._supervisor


class ReceiverInputDStream(InputDStream):
    """The stream of the blocks one receiver stored: one partition per block."""

    def __init__(self, ssc: "StreamingContext", receiver: Receiver) -> None:
        if not isinstance(receiver, Receiver):
            raise TypeError(f"receiverStream takes a fluvial Receiver, got {type(receiver).__name__}")
        super().__init__(ssc)
        self.receiver = receiver
        receiver._stream_id = self.id

    def getReceiver(self) -> Receiver:
        return self.receiver

    def _compute(self, t: int) -> RDD | None:
        blocks = self._ssc._receiver_tracker.blocks_for(t, self.id)
        self._report(t, sum(len(b) for b in blocks))
        return ParallelCollectionRDD(self._sc, blocks)


class ReceiverSupervisor:
    """Runs one receiver: its lifecycle, its block buffer and its rate limit."""

    def __init__(self, receiver: Receiver, tracker: "ReceiverTracker") -> None:
        self.receiver = receiver
        self.tracker = tracker
        conf = tracker.ssc._sc._conf
        self.block_interval_ms = conf.getMillis("spark.streaming.blockInterval", 200)
        if self.block_interval_ms <= 0:
            raise ValueError(f"spark.streaming.blockInterval must be positive, got {self.block_interval_ms} ms")
        self.restart_delay_ms = conf.getMillis("spark.streaming.receiverRestartDelay", 2000)
        max_rate = conf.getFloat("spark.streaming.receiver.maxRate", 0.0)
        self.max_rate = max_rate if max_rate > 0 else None
        self.limiter = RateLimiter(self.max_rate)
        self.receiver_state = "initialized"
        self._buffer: list = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._timer: threading.Thread | None = None
        self._last_error = ("", "", -1)
        receiver._supervisor = self

    @property
    def stream_id(self) -> int:
        return self.receiver.streamId

    def info(self, active: bool) -> ReceiverInfo:
        msg, err, at = self._last_error
        return ReceiverInfo(self.stream_id, type(self.receiver).__name__, active,
                            _last_error_message=msg, _last_error=err, _last_error_time=at)

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self._timer = threading.Thread(target=self._cut_periodically, daemon=True,
                                       name=f"fluvial-block-generator-{self.stream_id}")
        self._timer.start()
        self._start_receiver()

    def _start_receiver(self) -> None:
        try:
            self.receiver_state = "started"
            self.receiver.onStart()
            self.tracker.post(StreamingListenerReceiverStarted(self.info(True)))
        except Exception as exc:  # noqa: BLE001 - a failing onStart is reported, then retried
            self.receiver_state = "stopped"
            self.restart(f"Error starting receiver {self.stream_id}", exc)

    def stop_receiver(self, message: str, error: BaseException | None = None) -> None:
        if self.receiver_state == "stopped":
            return
        self.receiver_state = "stopped"
        try:
            self.receiver.onStop()
        except Exception:  # noqa: BLE001
            log.exception("receiver %s failed in onStop", self.stream_id)
        if error is not None:
            self.report_error(message, error)
        self.tracker.post(StreamingListenerReceiverStopped(self.info(False)))

    def stop(self) -> None:
        """Stop the receiver and the block timer; buffered records become a last block."""
        self._stopped.set()
        self.stop_receiver("Stopped by driver")
        self.cut()

    def restart(self, message: str, error: BaseException | None = None, delay_ms: int | None = None) -> None:
        delay = self.restart_delay_ms if delay_ms is None else delay_ms

        def run() -> None:
            log.warning("Restarting receiver %s with delay %d ms: %s", self.stream_id, delay, message)
            self.stop_receiver(message, error)
            if self._stopped.wait(delay / 1000.0):
                return
            self._start_receiver()
        threading.Thread(target=run, daemon=True, name=f"fluvial-receiver-restart-{self.stream_id}").start()

    def report_error(self, message: str, error: BaseException | None) -> None:
        detail = "".join(traceback.format_exception(error)) if error is not None else ""
        self._last_error = (message, detail, int(time.time() * 1000))
        log.warning("Receiver %s error: %s%s", self.stream_id, message, f" - {error!r}" if error else "")
        self.tracker.post(StreamingListenerReceiverError(self.info(self.receiver_state == "started")))

    # -- data ---------------------------------------------------------------
    def push_single(self, item: Any) -> None:
        self.limiter.acquire(1)
        with self._lock:
            self._buffer.append(item)

    def push_block(self, items: list) -> None:
        if not items:
            return
        self.limiter.acquire(len(items))
        self.cut()
        self.tracker.add_block(self.stream_id, items)

    def cut(self) -> None:
        """Turn the buffered records into a block."""
        with self._lock:
            if not self._buffer:
                return
            block, self._buffer = self._buffer, []
            self.tracker.add_block(self.stream_id, block)

    def _cut_periodically(self) -> None:
        while not self._stopped.wait(self.block_interval_ms / 1000.0):
            self.cut()


class ReceiverTracker:
    """Owns the supervisors and the blocks they stored until a batch takes them.

    ``allocate(t)`` first cuts every receiver's buffer, then assigns all
    unallocated blocks to batch ``t``; the batch's RDD reads exactly those."""

    def __init__(self, ssc: "StreamingContext") -> None:
        self.ssc = ssc
        self.supervisors: dict[int, ReceiverSupervisor] = {}
        self._unallocated: dict[int, list[list]] = {}
        self._allocated: dict[int, dict[int, list[list]]] = {}
        self._lock = threading.Lock()

    def post(self, event: Any) -> None:
        self.ssc._bus.post(event)

    def start(self) -> None:
        for stream in self.ssc._graph.input_streams:
            if isinstance(stream, ReceiverInputDStream):
                self._unallocated[stream.id] = []
                self.supervisors[stream.id] = ReceiverSupervisor(stream.receiver, self)
        for sup in self.supervisors.values():
            sup.start()

    def add_block(self, stream_id: int, block: list) -> None:
        with self._lock:
            self._unallocated.setdefault(stream_id, []).append(block)

    def allocate(self, t: int) -> None:
        for sup in self.supervisors.values():
            sup.cut()
        with self._lock:
            self._allocated[t] = self._unallocated
            self._unallocated = {sid: [] for sid in self._unallocated}

    def blocks_for(self, t: int, stream_id: int) -> list[list]:
        with self._lock:
            return self._allocated.get(t, {}).get(stream_id, [])

    def has_unallocated(self) -> bool:
        for sup in self.supervisors.values():
            if sup._buffer:
                return True
        with self._lock:
            return any(self._unallocated.values())

    def cleanup(self, t: int) -> None:
        """Forget allocations of batches at or before ``t``."""
        with self._lock:
            for old in [k for k in self._allocated if k <= t]:
                del self._allocated[old]

    def stop(self) -> None:
        for sup in self.supervisors.values():
            sup.stop()
