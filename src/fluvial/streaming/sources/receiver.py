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
* ``storeAll`` returns only once its records form a stored block (written to
  the write-ahead log when it is on), so a reliable receiver may acknowledge
  its source then.
* ``store``/``storeAll`` may block: under ``spark.streaming.receiver.maxRate``
  or backpressure, and while the job thread is ``spark.streaming.blockQueueSize``
  blocks behind. Once the stream stops they raise
  :class:`~fluvial.streaming.sources.supervisor.ReceiverStoppedError`: that
  record was not stored.
* Records are never dropped while the context runs. A graceful stop processes
  every stored record; a stop without grace discards records no batch
  processed, and logs how many (with the write-ahead log they stay in the log,
  and a context recovered from the checkpoint processes them).
* ``onStart`` raising, or ``restart()``, reports the error (listener
  ``onReceiverError``), calls ``onStop`` and starts the receiver again after
  ``spark.streaming.receiverRestartDelay``; ``stop()`` stops it for good.

Driver failures. Blocks get a sequence number per stream, and which blocks
each batch took is kept in plain attributes of the :class:`ReceiverInputDStream`
(``_batches``, ``_allocated_upto``), so it is part of every metadata
checkpoint; a batch re-run after recovery takes exactly the same blocks.

* Without the write-ahead log, block data lives in driver memory only: a
  restarted driver has lost it. Receivers are then at-most-once across driver
  failures; a re-run batch whose blocks are gone runs with no partitions, and
  a WARNING names the batch and the number of records lost (as Spark).
* With ``spark.streaming.receiver.writeAheadLog.enable=true`` (which needs
  ``StreamingContext.checkpoint``), every block is written durably to
  ``<checkpoint dir>/receivedData/<streamId>/`` (:mod:`fluvial.streaming.wal`)
  before it counts as stored. After recovery, re-run batches read their blocks
  back from the log, and blocks stored but not yet in any checkpointed batch
  become the first blocks of the next batch, ahead of anything stored after
  the restart. A reliable receiver (acknowledging after ``storeAll``) is then
  at-least-once end to end, exactly-once with idempotent output. Records
  passed to ``store`` are written when the block interval cuts them (or when a
  batch takes them), so ``store`` alone is not reliable: a crash loses what it
  buffered since the last cut, as in Spark. Log segments are deleted once no
  kept checkpoint needs their blocks (``_checkpoint_done``).
* The receiver object is pickled into metadata checkpoints: keep sockets,
  threads, locks and queues in attributes named in its class attribute
  ``_transient`` (they are ``None`` after recovery; create them in ``onStart``).
"""
from __future__ import annotations

import contextlib
import logging
import pickle
import threading
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ...core import fsio
from ...core.lineage import ParallelCollectionRDD
from ...core.rdd import RDD
from ...core.storage import StorageLevel
from ..clock import Clock
from ..util import batch_datetime
from .base import InputDStream

# The receiving machinery (supervisor, block log, write-ahead log, rate
# control) is imported when a context with receivers starts, so programs
# without receivers do not load it.
if TYPE_CHECKING:
    from ..context import StreamingContext
    from ..rate import RateController
    from .blocklog import BlockLog
    from .supervisor import BlockRef, ReceiverSettings, ReceiverStoppedError, ReceiverSupervisor, StoreTimeoutError

log = logging.getLogger("fluvial.streaming")

__all__ = ["Receiver", "ReceiverInputDStream", "ReceiverTracker", "ReceiverStoppedError", "StoreTimeoutError",
           "BlockRef"]
_FROM_SUPERVISOR = ("BlockRef", "ReceiverStoppedError", "StoreTimeoutError")


def __getattr__(name: str) -> Any:
    if name in _FROM_SUPERVISOR:
        from . import supervisor
        return getattr(supervisor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

WAL_ENABLE_KEY = "spark.streaming.receiver.writeAheadLog.enable"
_NO_CHECKPOINT_DIR = ("Cannot enable receiver write-ahead log without checkpoint directory set. Please use "
                      "streamingContext.checkpoint() to set the checkpoint directory.")


class Receiver:
    """Base class of push sources. See the module docstring for the contract.

    Receivers run in the driver and their blocks stay in driver memory until
    their batch completes (and in the write-ahead log, when it is on);
    ``storageLevel`` is kept for API compatibility.

    ``_transient``: names of attributes left out when the receiver is pickled
    into a metadata checkpoint (sockets, threads, locks); they are ``None``
    after recovery."""

    _transient: tuple[str, ...] = ()

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

    def storeAll(self, items: Iterable[Any], numRecords: int | None = None, timeout: float | None = None) -> None:
        """Store records as one block; returns once the block is stored (and,
        with the write-ahead log, durably written), so the source may be
        acknowledged then.

        fluvial's additions: ``numRecords``, the number of records the items
        stand for when each item packs several (e.g. the raw bytes of a
        batch of events that the stream's tasks unpack); the rate limit,
        the block queue, ``numRecords`` in batch and listener reports and
        backpressure count that number (default ``len(items)``).
        ``timeout``: seconds the block may wait for the rate limit and for
        block-queue space; raises
        :class:`~fluvial.streaming.sources.supervisor.StoreTimeoutError`,
        with nothing stored, at once when the rate limit would make it wait
        longer, or when no queue space came in time (writing the log is
        not bounded by it)."""
        block = list(items)
        if numRecords is not None and (not isinstance(numRecords, int) or numRecords < 0):
            raise ValueError(f"numRecords must be a non-negative int, got {numRecords!r}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be a non-negative number of seconds, got {timeout!r}")
        if block:
            self._sup().blocks.add_block(block, numRecords, timeout)

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

    # -- checkpointing ------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_supervisor"] = None
        state["_stream"] = None     # its stream pickles itself and re-attaches on restore
        for cls in type(self).__mro__:
            for name in cls.__dict__.get("_transient", ()):
                state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for cls in type(self).__mro__:
            for name in cls.__dict__.get("_transient", ()):
                self.__dict__.setdefault(name, None)
        self._after_restore()

    def _after_restore(self) -> None:
        """Hook: the receiver was unpickled from a checkpoint (``_transient`` attributes are None)."""


class ReceiverInputDStream(InputDStream):
    """The stream of the blocks one receiver stored: one partition per block.

    Checkpointed state (plain attributes): ``_batches`` maps each remembered
    or pending batch time to the :class:`BlockRef` s it took, in order;
    ``_allocated_upto`` is the highest block sequence number any batch took;
    ``_last_alloc_ms`` the latest batch time allocated; ``_wal_marks`` maps
    batch times not yet known safe to the log time of their first logged
    block (for cleaning); ``_run_id`` tells this stream's log records from
    those of other runs in the same directory."""

    _transient = ("_alloc_lock", "_data", "_wal", "_recovered", "_supervisor", "_resume_seq", "_restored")

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
        self._batches: dict[int, list[BlockRef]] = {}
        self._allocated_upto = -1
        self._last_alloc_ms: int | None = None
        self._completed_ms: int | None = None
        self._wal_marks: dict[int, int] = {}
        self._run_id = uuid.uuid4().hex
        self._init_runtime()
        self._restored = False

    def _init_runtime(self) -> None:
        self._alloc_lock = threading.RLock()
        self._data: dict[int, list[list]] = {}       # batch time -> records of its blocks, while in memory
        self._wal: BlockLog | None = None
        self._recovered: list[tuple[BlockRef, list]] = []   # logged blocks no batch took, until a supervisor does
        self._supervisor: ReceiverSupervisor | None = None
        self._resume_seq = self._allocated_upto + 1

    def getReceiver(self) -> Receiver:
        return self.receiver

    def __getstate__(self) -> dict:
        """The receiver goes into checkpoints as it was when first saved (at
        ``start()``, before ``onStart``), so threads, sockets and other
        runtime state a running receiver holds never need to pickle: a
        recovered receiver starts afresh from its configuration."""
        state = super().__getstate__()
        state["receiver"] = self._receiver_snapshot()
        state.pop("_receiver_bytes", None)
        return state

    def __setstate__(self, state: dict) -> None:
        snapshot = state["receiver"]
        super().__setstate__(state)
        self.receiver = pickle.loads(snapshot)  # cloudpickle's output is plain pickle data
        self._receiver_bytes = snapshot

    def _receiver_snapshot(self) -> bytes:
        snapshot = self.__dict__.get("_receiver_bytes")
        if snapshot is None:
            import cloudpickle
            try:
                snapshot = cloudpickle.dumps(self.receiver)
            except Exception as exc:  # noqa: BLE001 - re-raised naming the receiver
                raise ValueError(
                    f"{type(self.receiver).__name__} (the receiver of {self.name}) cannot be saved in a "
                    f"metadata checkpoint: {type(exc).__name__}: {exc}. Create threads, sockets and locks in "
                    "onStart, or name the attributes holding them in the class attribute _transient") from exc
            self._receiver_bytes = snapshot
        return snapshot

    # -- write-ahead log ----------------------------------------------------
    @property
    def log_directory(self) -> str | None:
        """``<checkpoint dir>/receivedData/<streamId>``; None without a checkpoint directory."""
        cp = self._ssc._checkpoint_dir
        return None if cp is None else fsio.join(str(cp), "receivedData", str(self.id))

    def _open_log(self) -> None:
        """Open the write-ahead log if it is enabled (once). Raises without a
        checkpoint directory. A restored stream then reads the log back."""
        with self._alloc_lock:
            if self._wal is not None:
                return
            from .blocklog import BlockLog
            from .supervisor import ReceiverSettings
            settings = ReceiverSettings.from_conf(self._sc._conf)
            if not settings.write_ahead_log:
                return
            directory = self.log_directory
            if directory is None:
                raise ValueError(_NO_CHECKPOINT_DIR)
            self._wal = BlockLog(directory, settings.wal_rolling_ms, self._run_id)
            if self._restored:
                self._recover_from_log()

    def _recover_from_log(self) -> None:
        """Blocks of this run in the log that no checkpointed batch took become
        the first blocks of the next batch; sequence numbers go on after the
        highest one logged."""
        assert self._wal is not None
        self._recovered, top = self._wal.scan(after_seq=self._allocated_upto)
        self._resume_seq = max(top, self._allocated_upto) + 1
        if self._recovered:
            log.info("%s: %d records in %d blocks recovered from the write-ahead log %s; they go to the next "
                     "batch", self.name, sum(r.records for r, _ in self._recovered), len(self._recovered),
                     self._wal.directory)

    def _persist(self, seq: int, records: list, count: int) -> BlockRef:
        """Write one block to the log (durably) and return its ref."""
        assert self._wal is not None
        return self._wal.write(seq, records, self._ssc._clock.time_ms(), count)

    def _read_back(self, t: int, refs: list[BlockRef]) -> tuple[list[list], int]:
        """Records of batch ``t``'s blocks, from the log (after a restart),
        and the number of records they stand for."""
        self._open_log()
        out: list[list] = []
        found = lost_blocks = lost_records = 0
        for ref in refs:
            if ref.handle is None or self._wal is None:
                lost_blocks += 1
                lost_records += ref.records
            else:
                out.append(self._wal.read(ref))
                found += ref.records
        if lost_blocks:
            reason = ("the receiver write-ahead log is off" if self._wal is None
                      else "they were stored before the write-ahead log was enabled")
            log.warning("Batch %d ms (%s) of %s: %d records in %d blocks received before the driver restarted "
                        "are lost (%s; set %s=true with a checkpoint directory for at-least-once receivers)",
                        t, batch_datetime(t), self.name, lost_records, lost_blocks, reason, WAL_ENABLE_KEY)
        return out, found

    # -- blocks to batches --------------------------------------------------
    def _new_supervisor(self, post: Callable[[Any], None], settings: ReceiverSettings,
                        clock: Clock) -> ReceiverSupervisor:
        """The supervisor running this stream's receiver; blocks recovered from
        the log are its first blocks."""
        with self._alloc_lock:
            recovered, self._recovered = self._recovered, []
            first = max(self._resume_seq, self._allocated_upto + 1)
            persist = self._persist if self._wal is not None else None
            from .supervisor import ReceiverSupervisor
            self._supervisor = ReceiverSupervisor(self.receiver, post, settings, clock, first, persist, recovered)
            return self._supervisor

    def _allocate(self, t: int) -> list[BlockRef]:
        """Give batch ``t`` every block stored so far (once: a batch time
        already allocated keeps its blocks, e.g. when re-run after recovery)."""
        with self._alloc_lock:
            if t in self._batches:
                return self._batches[t]
            if self._last_alloc_ms is not None and t <= self._last_alloc_ms:
                return []  # older than the newest allocation and forgotten: nothing is left for it
            blocks, self._recovered = self._recovered, []
            if self._supervisor is not None:
                blocks += self._supervisor.blocks.take_blocks(t)
            refs = [ref for ref, _ in blocks]
            self._batches[t] = refs
            self._data[t] = [records for _, records in blocks]
            self._last_alloc_ms = t
            if refs:
                self._allocated_upto = refs[-1].seq
                logged = [r.handle.time_ms for r in refs if r.handle is not None]
                if logged:
                    self._wal_marks[t] = min(logged)
            return refs

    def _compute(self, t: int) -> RDD | None:
        with self._alloc_lock:
            refs = self._allocate(t)
            data = self._data.get(t)
        if data is None:
            data, records = self._read_back(t, refs)
        else:
            records = sum(ref.records for ref in refs)
        self._report(t, records)
        return ParallelCollectionRDD(self._sc, data)

    def _batch_completed(self, t: int) -> None:
        """Batch ``t`` is done: drop block data held for batches up to ``t``
        and forget allocations older than the remember duration."""
        with self._alloc_lock:
            self._completed_ms = t if self._completed_ms is None else max(self._completed_ms, t)
            for k in [k for k in self._data if k <= t]:
                del self._data[k]
            limit = t - (self._remember_ms or self._slide_ms)
            for k in [k for k in self._batches if k <= limit]:
                del self._batches[k]

    def _has_unallocated(self) -> bool:
        with self._alloc_lock:
            if self._recovered:
                return True
            sup = self._supervisor
        return sup is not None and sup.blocks.pending_records() > 0

    def _unprocessed_records(self) -> int:
        """Records stored but in no completed batch."""
        with self._alloc_lock:
            sup = self._supervisor
            pending = sum(ref.records for ref, _ in self._recovered)
            done = self._completed_ms
            allocated = sum(ref.records for k, refs in self._batches.items()
                            if done is None or k > done for ref in refs)
        if sup is not None:
            pending += sup.blocks.pending_records()
        return pending + allocated

    # -- checkpoint hooks ---------------------------------------------------
    def _after_restore(self) -> None:
        """Unpickled from a metadata checkpoint and re-attached: rebuild the
        runtime parts and, with the write-ahead log, read back the blocks no
        checkpointed batch took (they go to the next batch)."""
        self._init_runtime()
        self._restored = True
        self.receiver._stream = self
        self.receiver._stream_id = self.id
        if self._ssc._checkpoint_dir is not None:
            self._open_log()

    def _checkpoint_done(self, safe_ms: int) -> None:
        """No kept checkpoint needs blocks of batches ``<= safe_ms``: delete
        the log segments holding only such blocks. Blocks of later batches,
        of batches this run has not completed (whatever ``safe_ms`` says: the
        newest checkpoint re-runs them), blocks no batch took yet and blocks
        being written are kept."""
        with self._alloc_lock:
            if self._completed_ms is None or self._completed_ms < safe_ms:
                safe_ms = -1 if self._completed_ms is None else self._completed_ms
            for k in [k for k in self._wal_marks if k <= safe_ms]:
                del self._wal_marks[k]
            wal, sup = self._wal, self._supervisor
            if wal is None:
                return
            with sup.blocks.writes_paused if sup is not None else contextlib.nullcontext():
                needed = list(self._wal_marks.values())
                pending = sup.blocks.pending_refs() if sup is not None else [r for r, _ in self._recovered]
                needed += [r.handle.time_ms for r in pending if r.handle is not None]
                if wal.last_time_ms is not None:
                    needed.append(wal.last_time_ms)   # every later record is stamped this or later
        if needed:
            wal.clean(min(needed))

    def stop(self) -> None:
        lost = self._unprocessed_records()
        if lost and self._wal is not None:
            log.warning("%s: %d records stored by %s were not processed before the context stopped; they are "
                        "kept in the write-ahead log %s and processed by a context recovered from the "
                        "checkpoint", self.name, lost, type(self.receiver).__name__, self._wal.directory)
        elif lost:
            log.warning("%s: %d records stored by %s were not processed before the context stopped "
                        "(stop with stopGraceFully=True to process them)", self.name, lost,
                        type(self.receiver).__name__)
        if self._wal is not None:
            self._wal.close()


class ReceiverTracker:
    """Starts one supervisor per receiver stream and hands blocks to batches.

    ``allocate(t)`` gives batch ``t`` every block each receiver stored so far
    (recorded in the streams, see :class:`ReceiverInputDStream`); the batch's
    RDD reads exactly those. ``cleanup(t)`` (batch ``t`` done) frees them and
    lets blocked producers continue. With ``spark.streaming.backpressure.enabled``
    a :class:`RateController` per receiver updates its rate limit after every
    completed batch."""

    def __init__(self, ssc: "StreamingContext") -> None:
        self.ssc = ssc
        self.supervisors: dict[int, ReceiverSupervisor] = {}
        self.rate_controllers: dict[int, RateController] = {}

    @property
    def streams(self) -> list[ReceiverInputDStream]:
        return [s for s in self.ssc._graph.input_streams if isinstance(s, ReceiverInputDStream)]

    def post(self, event: Any) -> None:
        self.ssc._bus.post(event)

    def start(self) -> None:
        """Open the write-ahead logs (raises when enabled without checkpoint
        directory) and start the receivers."""
        streams = self.streams
        if not streams:
            return
        conf = self.ssc._sc._conf
        from ..rate import RateController, create_rate_estimator
        from .supervisor import ReceiverSettings
        settings = ReceiverSettings.from_conf(conf)
        for stream in streams:
            stream._open_log()
        for stream in streams:
            sup = stream._new_supervisor(self.post, settings, self.ssc._clock)
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
        for stream in self.streams:
            stream._allocate(t)

    def has_unallocated(self) -> bool:
        return any(stream._has_unallocated() for stream in self.streams)

    def unprocessed_records(self, stream_id: int) -> int:
        """Records of ``stream_id`` stored but in no completed batch."""
        return sum(s._unprocessed_records() for s in self.streams if s.id == stream_id)

    def cleanup(self, t: int) -> None:
        """Batch ``t`` completed: free its blocks and let blocked producers go on."""
        for stream in self.streams:
            stream._batch_completed(t)
        for sup in self.supervisors.values():
            sup.blocks.completed(t)

    def stop(self) -> None:
        if self._on_batch_completed in self.ssc._batch_listeners:
            self.ssc._batch_listeners.remove(self._on_batch_completed)
        for sup in self.supervisors.values():
            sup.stop()
