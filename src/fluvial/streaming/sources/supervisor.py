"""Running one receiver: its lifecycle, its blocks and its rate limit.

:class:`BlockGenerator` turns stored records into blocks: ``store`` appends to
the current buffer, a timer cuts the buffer into a block every
``spark.streaming.blockInterval`` (wall time; blocks only decide partitions),
and the tracker takes all cut blocks for a batch at the batch's time. Blocks
keep their order, and each block goes to exactly one batch. Each block gets
the next sequence number of its stream (:class:`BlockRef`); with a receiver
write-ahead log, a block is written to the log (``persist``) before it joins
the blocks a batch can take, in sequence order, so the log holds the blocks
in the order batches take them. Producers storing blocks at the same time
share one log write (a group commit): while one block is being written,
the blocks of the producers that come meanwhile wait, and the next write
takes them all as one block, in arrival order.

Memory is bounded like Spark's block queue: once ``spark.streaming.blockQueueSize``
blocks of this receiver wait in batches queued *behind* the batch being
processed, ``store``/``storeAll`` block until the job thread catches up. A
pipeline that keeps up never waits; a stalled one stops taking input instead
of growing without limit.

:class:`ReceiverSupervisor` starts and stops the receiver, restarts it after
``spark.streaming.receiverRestartDelay`` when it asks to (or when ``onStart``
raises), reports errors to the listener bus, and applies the rate limit
(``spark.streaming.receiver.maxRate``, lowered further by backpressure). The
limiter runs on the context's clock, so under a ManualClock a receiver is
throttled in manual time.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..clock import Clock, SystemClock
from ..listener import (ReceiverInfo, StreamingListenerReceiverError, StreamingListenerReceiverStarted,
                        StreamingListenerReceiverStopped)
from ..rate import RateLimiter
from ..wal import WALHandle

if TYPE_CHECKING:
    from .receiver import Receiver

log = logging.getLogger("fluvial.streaming")

__all__ = ["ReceiverSettings", "BlockRef", "BlockGenerator", "ReceiverSupervisor", "ReceiverStoppedError",
           "StoreTimeoutError"]


class ReceiverStoppedError(RuntimeError):
    """``store`` was called on (or was waiting in) a receiver whose stream has stopped:
    the record was not stored."""


class StoreTimeoutError(TimeoutError):
    """``storeAll(..., timeout=t)``: the rate limit or the block queue would
    not take the block within ``t`` seconds; nothing of it was stored."""


def _positive_rate(conf: Any, key: str) -> float | None:
    raw = conf.get(key)
    if raw is None:
        return None
    value = conf.getFloat(key, 0.0)
    return value if value > 0 else None


@dataclass(frozen=True)
class ReceiverSettings:
    """Receiver configuration, read and checked once when the context starts."""

    block_interval_ms: int
    restart_delay_ms: int
    queue_size: int
    max_rate: float | None          # records/s per receiver; None = unlimited
    backpressure: bool
    initial_rate: float | None      # first limit under backpressure (capped by max_rate)
    write_ahead_log: bool = False   # spark.streaming.receiver.writeAheadLog.enable
    wal_rolling_ms: int = 60_000    # spark.streaming.receiver.writeAheadLog.rollingIntervalSecs

    @classmethod
    def from_conf(cls, conf: Any) -> "ReceiverSettings":
        block_ms = conf.getMillis("spark.streaming.blockInterval", 200)
        if block_ms <= 0:
            raise ValueError(f"spark.streaming.blockInterval must be positive, got {block_ms} ms")
        restart_ms = conf.getMillis("spark.streaming.receiverRestartDelay", 2000)
        if restart_ms < 0:
            raise ValueError(f"spark.streaming.receiverRestartDelay must be >= 0, got {restart_ms} ms")
        queue = conf.getInt("spark.streaming.blockQueueSize", 10)
        if queue < 1:
            raise ValueError(f"spark.streaming.blockQueueSize must be at least 1, got {queue}")
        max_rate = _positive_rate(conf, "spark.streaming.receiver.maxRate")
        backpressure = conf.getBoolean("spark.streaming.backpressure.enabled", False)
        initial = None
        if backpressure and conf.get("spark.streaming.backpressure.initialRate") is not None:
            initial = conf.getFloat("spark.streaming.backpressure.initialRate", 0.0)
            if initial <= 0:
                raise ValueError("spark.streaming.backpressure.initialRate must be a positive number of "
                                 f"records per second, got {conf.get('spark.streaming.backpressure.initialRate')!r}")
        if initial is not None and max_rate is not None:
            initial = min(initial, max_rate)
        wal = conf.getBoolean("spark.streaming.receiver.writeAheadLog.enable", False)
        rolling = conf.getInt("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs", 60)
        if rolling < 1:
            raise ValueError("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs must be at least 1 "
                             f"second, got {rolling}")
        return cls(block_ms, restart_ms, queue, max_rate, backpressure, initial, wal, rolling * 1000)

    @property
    def first_rate(self) -> float | None:
        return self.initial_rate if self.initial_rate is not None else self.max_rate


@dataclass(frozen=True, slots=True)
class BlockRef:
    """One stored block: its sequence number in its stream (increasing in
    storing order, and across restarts from a checkpoint), its number of
    records, and where the receiver write-ahead log holds it (None without the
    log). Plain data: batch allocations of these go into metadata checkpoints."""

    seq: int
    records: int
    handle: WALHandle | None = None


Persist = Callable[[int, list, int], BlockRef]
"""Writes block ``records`` (standing for ``count`` records) with sequence number ``seq`` durably; returns its ref."""


class BlockGenerator:
    """Buffers one receiver's records and cuts them into blocks (see module docstring).

    Thread-safe. ``add``/``add_block`` may block (rate limit, full queue) and
    raise :class:`ReceiverStoppedError` once :meth:`stop` was called.

    ``persist`` (the write-ahead log) is called for every new block, one at a
    time in sequence order, before the block can be taken; if it raises, the
    block is not stored (``add_block`` raises; records cut by the timer stay
    buffered and are retried by the next cut or ``take``, which then raises).
    With ``persist``, blocks that producers add while another block is being
    persisted are persisted together, as one block (see :meth:`add_block`).
    ``recovered``: blocks (ref, records) from an earlier run, taken first."""

    def __init__(self, stream_id: int, interval_ms: int, queue_size: int, limiter: RateLimiter,
                 first_seq: int = 0, persist: Persist | None = None,
                 recovered: list[tuple[BlockRef, list]] | None = None) -> None:
        self.stream_id = stream_id
        self.interval_ms = interval_ms
        self.queue_size = queue_size
        self.limiter = limiter
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()   # taken before _cond; serialises seq + persist + append
        self._persist = persist
        self._next_seq = first_seq
        self._active = False
        self._stopped = threading.Event()
        self._buffer: list = []
        self._blocks: list[tuple[BlockRef, list]] = list(recovered or [])
        self._in_flight: collections.deque[tuple[int, int]] = collections.deque()  # (batch time, blocks)
        self._waiting = 0
        self._arrived: list[_Arrival] = []     # add_block calls waiting for the next persist
        self._timer: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            self._active = True
        self._timer = threading.Thread(target=self._cut_periodically, daemon=True,
                                       name=f"fluvial-block-generator-{self.stream_id}")
        self._timer.start()

    def stop(self) -> None:
        """Refuse further records, wake blocked producers, cut the last block."""
        with self._cond:
            self._active = False
            self._stopped.set()
            self._cond.notify_all()
        try:
            self.cut()
        except Exception:  # noqa: BLE001 - the records stay buffered and are counted as unprocessed
            log.exception("receiver of stream %d: could not store its last %d records", self.stream_id,
                          len(self._buffer))
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()

    # -- producers ----------------------------------------------------------
    def add(self, item: Any) -> None:
        self._check_active()
        self.limiter.acquire(1)
        with self._cond:
            self._wait_for_space()
            self._buffer.append(item)

    def add_block(self, items: list, records: int | None = None, timeout: float | None = None) -> None:
        """Store ``items`` as one block (after the records buffered so far);
        returns once it is stored (written to the log, when there is one).
        ``records``: how many records the items stand for (default
        ``len(items)``); the rate limit, the block's ref and every count
        of records use it. ``timeout``: raise :class:`StoreTimeoutError`,
        storing nothing, at once when the rate limit would make the block
        wait longer than that (seconds of the limiter's clock), or once
        that many seconds passed waiting for block-queue space.

        With a write-ahead log, the blocks of callers that arrive while
        another block is being written are written together, as one block
        (their items in arrival order, its record count their sum): one
        durable write for all of them. Each caller returns once that block
        is stored; if writing it fails, every one of them raises the error
        and none of their items is stored."""
        count = len(items) if records is None else records
        self._check_active()
        if timeout is None:
            self.limiter.acquire(count)
            deadline = None
        else:
            deadline = time.monotonic() + timeout
            if not self.limiter.try_acquire(count, timeout):
                raise StoreTimeoutError(
                    f"receiver of stream {self.stream_id}: the rate limit ({self.limiter.rate:g} records/s) does "
                    f"not let {count} more records through within {timeout:g} s; not stored")
        try:
            with self._cond:
                self._wait_for_space(deadline)
        except StoreTimeoutError:
            self.limiter.refund(count)  # nothing stored: the records may come again
            raise
        if self._persist is None:
            with self._write_lock:
                self._check_active()
                self._cut_and_store()
                self._store(items, count)
            return
        arrival = _Arrival(items, count)
        with self._cond:
            self._arrived.append(arrival)
        with self._write_lock:  # whoever gets it first writes every arrival so far
            if not arrival.done:
                self._store_arrivals()
        if arrival.error is not None:
            raise arrival.error

    def _store_arrivals(self) -> None:
        """Persist every waiting arrival as one block (holding _write_lock)."""
        with self._cond:
            group, self._arrived = self._arrived, []
        try:
            self._check_active()
            self._cut_and_store()
            items = group[0].items if len(group) == 1 else [x for a in group for x in a.items]
            self._store(items, sum(a.count for a in group))
        except BaseException as exc:  # noqa: BLE001 - raised by every caller of the group
            for a in group:
                a.error = exc
        finally:
            for a in group:
                a.done = True

    def _check_active(self) -> None:
        if not self._active:
            raise ReceiverStoppedError(f"receiver of stream {self.stream_id} is not running: record not stored")

    def _wait_for_space(self, deadline: float | None = None) -> None:
        if self._active and self._queued_behind() >= self.queue_size:
            self._waiting += 1
            self._cond.notify_all()
            try:
                while self._active and self._queued_behind() >= self.queue_size:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise StoreTimeoutError(
                            f"receiver of stream {self.stream_id}: {self._queued_behind()} blocks wait in batches "
                            f"queued behind the running one (spark.streaming.blockQueueSize={self.queue_size}); "
                            "no room within the timeout, not stored")
                    self._cond.wait(left)
            finally:
                self._waiting -= 1
        self._check_active()

    def _queued_behind(self) -> int:
        """Blocks in batches queued behind the oldest unfinished batch."""
        return sum(n for _, n in self._in_flight) - (self._in_flight[0][1] if self._in_flight else 0)

    @property
    def waiting_producers(self) -> int:
        """Producers currently blocked because the queue is full."""
        return self._waiting

    def wait_for_blocked_producer(self, timeout: float) -> bool:
        """Block until some producer waits for queue space (True) or ``timeout`` seconds pass."""
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting > 0, timeout)

    # -- storing (holding _write_lock) ---------------------------------------
    def _store(self, records: list, count: int) -> None:
        seq = self._next_seq
        ref = self._persist(seq, records, count) if self._persist is not None else BlockRef(seq, count)
        self._next_seq = seq + 1
        with self._cond:
            self._blocks.append((ref, records))

    def _cut_and_store(self) -> None:
        with self._cond:
            buffered, self._buffer = self._buffer, []
        if not buffered:
            return
        try:
            self._store(buffered, len(buffered))
        except BaseException:
            with self._cond:
                self._buffer[:0] = buffered
            raise

    # -- consumers ----------------------------------------------------------
    def cut(self) -> None:
        """Make the buffered records a block."""
        with self._write_lock:
            self._cut_and_store()

    def take(self, t: int) -> list[list]:
        """Every record stored so far, as blocks in storing order, for batch ``t``."""
        return [records for _, records in self.take_blocks(t)]

    def take_blocks(self, t: int) -> list[tuple[BlockRef, list]]:
        """:meth:`take`, each block with its ref. Cutting the buffer, taking
        the blocks and counting them against the queue is one step for
        producers (``_cond``, reentrant, is held throughout, the log write
        included): a record stored meanwhile would see the queue without
        this batch's blocks and slip past a full queue."""
        with self._write_lock, self._cond:
            self._cut_and_store()
            blocks, self._blocks = self._blocks, []
            if blocks:
                self._in_flight.append((t, len(blocks)))
            return blocks

    def completed(self, t: int) -> None:
        """Batches up to ``t`` are done: their blocks no longer count against the queue."""
        with self._cond:
            while self._in_flight and self._in_flight[0][0] <= t:
                self._in_flight.popleft()
            self._cond.notify_all()

    def pending_records(self) -> int:
        """Records stored but not yet taken by a batch."""
        with self._cond:
            return len(self._buffer) + sum(ref.records for ref, _ in self._blocks)

    @property
    def writes_paused(self) -> threading.Lock:
        """Hold this lock to keep blocks from being written meanwhile."""
        return self._write_lock

    def pending_refs(self) -> list[BlockRef]:
        """Refs of the stored blocks no batch has taken yet, oldest first."""
        with self._cond:
            return [ref for ref, _ in self._blocks]

    def _cut_periodically(self) -> None:
        while not self._stopped.wait(self.interval_ms / 1000.0):
            try:
                self.cut()
            except Exception:  # noqa: BLE001 - records stay buffered; the batch's take retries and fails
                log.exception("receiver of stream %d: storing a block failed; retrying at the next cut",
                              self.stream_id)


class _Arrival:
    """One ``add_block`` call waiting for its block to be persisted."""

    __slots__ = ("items", "count", "done", "error")

    def __init__(self, items: list, count: int) -> None:
        self.items = items
        self.count = count
        self.done = False
        self.error: BaseException | None = None


def _limiter(rate: float | None, clock: Clock, stopped: threading.Event) -> RateLimiter:
    """A receiver's limiter on ``clock``; its waits end early on stop."""
    if isinstance(clock, SystemClock):
        return RateLimiter(rate, now=time.monotonic, sleep=stopped.wait)

    def now() -> float:
        return clock.time_ms() / 1000.0

    def sleep_until(moment: float) -> None:
        clock.wait_till(math.ceil(moment * 1000.0 - 1e-6), stopped)
    return RateLimiter(rate, now=now, sleep_until=sleep_until)


class ReceiverSupervisor:
    """Runs one receiver on the driver (see module docstring).

    Receiver states: ``initialized`` → ``started`` ⇄ ``stopped`` (restarts);
    :meth:`stop` ends the supervisor for good. ``onStart``/``onStop`` never run
    concurrently, at most one restart is pending at a time, and after
    :meth:`stop` returns no receiver callback starts again."""

    def __init__(self, receiver: "Receiver", post: Callable[[Any], None], settings: ReceiverSettings,
                 clock: Clock, first_seq: int = 0, persist: Persist | None = None,
                 recovered: list[tuple[BlockRef, list]] | None = None) -> None:
        self.receiver = receiver
        self.stream_id = receiver.streamId
        self.settings = settings
        self._post = post
        self._clock = clock
        self._terminated = threading.Event()
        self.limiter = _limiter(settings.first_rate, clock, self._terminated)
        self.blocks = BlockGenerator(self.stream_id, settings.block_interval_ms, settings.queue_size, self.limiter,
                                     first_seq, persist, recovered)
        self.receiver_state = "initialized"
        self._lifecycle = threading.RLock()
        self._restart_lock = threading.Lock()
        self._restart_pending = False
        self._restart_thread: threading.Thread | None = None
        self._error = ("", "", -1)
        receiver._supervisor = self

    def info(self, active: bool) -> ReceiverInfo:
        msg, err, at = self._error
        return ReceiverInfo(self.stream_id, type(self.receiver).__name__, active,
                            _last_error_message=msg, _last_error=err, _last_error_time=at)

    @property
    def terminated(self) -> bool:
        return self._terminated.is_set()

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self.blocks.start()
        self.start_receiver()

    def start_receiver(self) -> None:
        """Call ``onStart``; if it raises, report the error and restart after the delay."""
        with self._lifecycle:
            if self.terminated or self.receiver_state == "started":
                return
            self.receiver_state = "started"
            self._error = ("", "", -1)
            self._post(StreamingListenerReceiverStarted(self.info(True)))
            try:
                self.receiver.onStart()
            except Exception as exc:  # noqa: BLE001 - reported, then the receiver is restarted
                self.restart(f"Error starting receiver {self.stream_id}: {type(exc).__name__}: {exc}", exc)

    def stop_receiver(self, message: str, error: BaseException | None = None, report: bool = True) -> None:
        """Call ``onStop`` if the receiver is started; report ``error`` (if
        given and ``report``) and post ``onReceiverStopped``."""
        with self._lifecycle:
            if self.receiver_state != "started":
                return
            self.receiver_state = "stopped"
            try:
                self.receiver.onStop()
            except Exception:  # noqa: BLE001 - a failing onStop must not prevent the restart
                log.exception("Error stopping receiver %d", self.stream_id)
            if error is not None and report:
                self.report_error(message, error)
            detail = _trace(error)
            self._error = (message, detail, _now_ms() if error is not None else -1)
            self._post(StreamingListenerReceiverStopped(self.info(False)))

    def restart(self, message: str, error: BaseException | None = None, delay_ms: int | None = None) -> None:
        """Stop the receiver, wait ``delay_ms`` (default ``spark.streaming.receiverRestartDelay``),
        start it again; asynchronous. A restart requested while one is pending is
        merged into it (its error is still reported); once the supervisor has
        stopped, restarts are ignored."""
        delay = self.settings.restart_delay_ms if delay_ms is None else int(delay_ms)
        if delay < 0:
            raise ValueError(f"restart delay must be >= 0 ms, got {delay}")
        with self._restart_lock:
            if self.terminated:
                log.info("receiver %d is stopping; not restarting it: %s", self.stream_id, message)
                return
            merged = self._restart_pending
            if not merged:
                self._restart_pending = True
                thread = threading.Thread(target=self._restart, args=(message, error, delay), daemon=True,
                                          name=f"fluvial-receiver-restart-{self.stream_id}")
                self._restart_thread = thread
        if error is not None:
            self.report_error(f"Restarting receiver with delay {delay}ms: {message}", error)
        if merged:
            log.info("receiver %d: restart already pending; merged with: %s", self.stream_id, message)
            return
        thread.start()

    def _restart(self, message: str, error: BaseException | None, delay: int) -> None:
        log.warning("Restarting receiver %d with delay %d ms: %s", self.stream_id, delay, message,
                    exc_info=error if error is not None else None)
        self.stop_receiver(f"Restarting receiver with delay {delay}ms: {message}", error, report=False)
        stopped = self._terminated.wait(delay / 1000.0)
        with self._restart_lock:
            self._restart_pending = False
        if not stopped:
            self.start_receiver()

    def stop(self, message: str = "Stopped by driver", error: BaseException | None = None,
             from_receiver: bool = False) -> None:
        """Stop for good: refuse new records (blocked producers get
        :class:`ReceiverStoppedError`), stop the receiver, cut the last block.
        Records already stored stay for the tracker to allocate.

        ``from_receiver``: called by the receiver itself. If a restart is busy
        in ``onStop``/``onStart`` (which may be waiting for this very thread),
        ``onStop`` runs on another thread instead of deadlocking."""
        with self._restart_lock:
            self._terminated.set()
            restart = self._restart_thread
        self._clock.wake()
        self.blocks.stop()
        if from_receiver and not self._lifecycle.acquire(blocking=False):
            threading.Thread(target=self.stop_receiver, args=(message, error), daemon=True,
                             name=f"fluvial-receiver-stop-{self.stream_id}").start()
            return
        try:
            self.stop_receiver(message, error)
        finally:
            if from_receiver:
                self._lifecycle.release()
        if restart is not None and restart is not threading.current_thread():
            restart.join(10)
            if restart.is_alive():
                log.warning("receiver %d: restart thread still busy in onStart/onStop after 10 s", self.stream_id)

    def report_error(self, message: str, error: BaseException | None) -> None:
        self._error = (message, _trace(error), _now_ms())
        log.warning("Error reported by receiver for stream %d: %s%s", self.stream_id, message,
                    f" - {type(error).__name__}: {error}" if error is not None else "")
        self._post(StreamingListenerReceiverError(self.info(self.receiver_state == "started")))

    def update_rate(self, rate: int) -> None:
        """Backpressure: new limit in records/s (ignored if <= 0; capped by maxRate)."""
        if rate <= 0:
            return
        if self.settings.max_rate is not None:
            rate = min(rate, self.settings.max_rate)  # type: ignore[assignment]
        self.limiter.set_rate(rate)


def _trace(error: BaseException | None) -> str:
    return "".join(traceback.format_exception(error)) if error is not None else ""


def _now_ms() -> int:
    return int(time.time() * 1000)
