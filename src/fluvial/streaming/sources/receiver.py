"""Receivers: push sources that run in the driver and store records into blocks.

Write a source by subclassing :class:`Receiver`: ``onStart`` starts whatever
threads read the source (it must not block), they call ``store`` per record or
``storeAll`` per batch of records, and ``onStop`` releases resources (it is
called before every restart, too).

Guarantees:

* A record passed to ``store`` belongs to the first batch generated after the
  call returns; every stored record lands in exactly one batch, and records
  of one receiver keep their storing order (blocks in order, one partition
  per block).
* ``storeAll`` returns only once its records form a stored block, so a
  reliable receiver may acknowledge its source then.
* ``store``/``storeAll`` may block: under ``spark.streaming.receiver.maxRate``
  or backpressure, and while the job thread is ``spark.streaming.blockQueueSize``
  blocks behind. Once the stream stops they raise
  :class:`~fluvial.streaming.sources.supervisor.ReceiverStoppedError`: that
  record was not stored.
* Records are never dropped while the context runs. A graceful stop processes
  every stored record; a stop without grace discards records no batch
  processed, and logs how many.
* ``onStart`` raising, or ``restart()``, reports the error (listener
  ``onReceiverError``), calls ``onStop`` and starts the receiver again after
  ``spark.streaming.receiverRestartDelay``; ``stop()`` stops it for good.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Iterable

from ...core.lineage import ParallelCollectionRDD
from ...core.rdd import RDD
from ...core.storage import StorageLevel
from ..rate import RateController, create_rate_estimator
from .base import InputDStream
from .supervisor import ReceiverSettings, ReceiverStoppedError, ReceiverSupervisor

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming")

__all__ = ["Receiver", "ReceiverInputDStream", "ReceiverTracker", "ReceiverStoppedError"]


class Receiver:
    """Base class of push sources. See the module docstring for the contract.

    Receivers run in the driver and their blocks stay in driver memory until
    their batch completes; ``storageLevel`` is kept for API compatibility."""

    def __init__(self, storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> None:  # type: ignore[attr-defined]
        self.storageLevel = storageLevel
        self._supervisor: ReceiverSupervisor | None = None
        self._stream_id = -1
        self._stream: ReceiverInputDStream | None = None

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
        self._sup().blocks.add(dataItem)

    def storeAll(self, items: Iterable[Any]) -> None:
        """Store records as one block; returns once the block is stored."""
        block = list(items)
        if block:
            self._sup().blocks.add_block(block)

    def isStarted(self) -> bool:
        return self._supervisor is not None and self._supervisor.receiver_state == "started"

    def isStopped(self) -> bool:
        return self._supervisor is None or self._supervisor.receiver_state != "started"

    def restart(self, message: str, error: BaseException | None = None, millisecond: int | None = None) -> None:
        """Stop, wait ``millisecond`` (default ``spark.streaming.receiverRestartDelay``), start again.
        Returns at once; the restart runs on another thread."""
        self._sup().restart(message, error, millisecond)

    def stop(self, message: str, error: BaseException | None = None) -> None:
        """Stop this receiver for good (records already stored are still processed)."""
        self._sup().stop(message, error, from_receiver=True)

    def reportError(self, message: str, error: BaseException | None = None) -> None:
        """Report a non-fatal error: logged and posted to listeners' ``onReceiverError``."""
        self._sup().report_error(message, error)

    def _sup(self) -> ReceiverSupervisor:
        if self._supervisor is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a running StreamingContext")
        return self._supervisor


class ReceiverInputDStream(InputDStream):
    """The stream of the blocks one receiver stored: one partition per block."""

    def __init__(self, ssc: "StreamingContext", receiver: Receiver) -> None:
        if not isinstance(receiver, Receiver):
            raise TypeError(f"receiverStream takes a fluvial Receiver, got {type(receiver).__name__}")
        previous = receiver._stream
        if previous is not None and previous._ssc.getState() != "STOPPED":
            raise ValueError(f"{type(receiver).__name__} already feeds input stream {previous.id} of a "
                             "StreamingContext that has not stopped; create a new receiver per stream")
        super().__init__(ssc)
        self.receiver = receiver
        receiver._stream_id = self.id
        receiver._stream = self
        receiver._supervisor = None

    def getReceiver(self) -> Receiver:
        return self.receiver

    def _compute(self, t: int) -> RDD | None:
        blocks = self._ssc._receiver_tracker.blocks_for(t, self.id)
        self._report(t, sum(len(b) for b in blocks))
        return ParallelCollectionRDD(self._sc, blocks)

    def stop(self) -> None:
        lost = self._ssc._receiver_tracker.unprocessed_records(self.id)
        if lost:
            log.warning("%s: %d records stored by %s were not processed before the context stopped "
                        "(stop with stopGraceFully=True to process them)", self.name, lost,
                        type(self.receiver).__name__)


class ReceiverTracker:
    """Owns the supervisors and the blocks allocated to batches until those complete.

    ``allocate(t)`` takes every block each receiver stored so far for batch
    ``t``; the batch's RDD reads exactly those. ``cleanup(t)`` (batch ``t``
    done) frees them and lets blocked producers continue. With
    ``spark.streaming.backpressure.enabled`` a :class:`RateController` per
    receiver updates its rate limit after every completed batch."""

    def __init__(self, ssc: "StreamingContext") -> None:
        self.ssc = ssc
        self.supervisors: dict[int, ReceiverSupervisor] = {}
        self.rate_controllers: dict[int, RateController] = {}
        self._allocated: dict[int, dict[int, list[list]]] = {}
        self._lock = threading.Lock()

    def post(self, event: Any) -> None:
        self.ssc._bus.post(event)

    def start(self) -> None:
        streams = [s for s in self.ssc._graph.input_streams if isinstance(s, ReceiverInputDStream)]
        if not streams:
            return
        conf = self.ssc._sc._conf
        settings = ReceiverSettings.from_conf(conf)
        for stream in streams:
            sup = ReceiverSupervisor(stream.receiver, self.post, settings, self.ssc._clock)
            self.supervisors[stream.id] = sup
            if settings.backpressure:
                self.rate_controllers[stream.id] = RateController(
                    stream.id, create_rate_estimator(conf, self.ssc._batch_ms), sup.update_rate)
        if self.rate_controllers:
            self.ssc._batch_listeners.append(self._on_batch_completed)
        for sup in self.supervisors.values():
            sup.start()

    def _on_batch_completed(self, info: Any) -> None:
        for controller in self.rate_controllers.values():
            try:
                controller.on_batch_completed(info)
            except Exception:  # noqa: BLE001 - rate estimation must not fail the job thread
                log.exception("rate estimation for stream %d failed", controller.stream_id)

    def allocate(self, t: int) -> None:
        batch = {sid: sup.blocks.take(t) for sid, sup in self.supervisors.items()}
        with self._lock:
            self._allocated[t] = batch

    def blocks_for(self, t: int, stream_id: int) -> list[list]:
        with self._lock:
            return self._allocated.get(t, {}).get(stream_id, [])

    def has_unallocated(self) -> bool:
        return any(sup.blocks.pending_records() for sup in self.supervisors.values())

    def unprocessed_records(self, stream_id: int) -> int:
        """Records of ``stream_id`` stored but in no completed batch."""
        sup = self.supervisors.get(stream_id)
        pending = sup.blocks.pending_records() if sup is not None else 0
        with self._lock:
            allocated = sum(len(b) for batch in self._allocated.values() for b in batch.get(stream_id, []))
        return pending + allocated

    def cleanup(self, t: int) -> None:
        """Batch ``t`` completed: forget allocations of batches at or before ``t``."""
        with self._lock:
            for old in [k for k in self._allocated if k <= t]:
                del self._allocated[old]
        for sup in self.supervisors.values():
            sup.blocks.completed(t)

    def stop(self) -> None:
        if self._on_batch_completed in self.ssc._batch_listeners:
            self.ssc._batch_listeners.remove(self._on_batch_completed)
        for sup in self.supervisors.values():
            sup.stop()
