"""Cutting time into batches and running their jobs.

The generator thread waits on the clock for each batch time
``start + k * batchDuration`` (``start`` being the first multiple of the
batch duration after the clock's time at ``start()``, as in Spark's
JobGenerator), has the receivers hand over their blocks, computes the batch's
RDDs and queues one job per output operation. The job thread runs batches
strictly in time order and a batch's jobs in declaration order.

A job that raises fails its batch: the remaining jobs of the batch and all
later batches are not run, and the error (a :class:`BatchFailedError` naming
the batch time and the output operation) is handed to the context, which
stops. A batch with no job (no output operation had an RDD for it) posts no
listener events, as in Spark.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from typing import TYPE_CHECKING, Callable

from .graph import GenerateError
from .listener import (BatchInfo, OutputOperationInfo, StreamingListenerBatchCompleted,
                       StreamingListenerBatchStarted, StreamingListenerBatchSubmitted,
                       StreamingListenerOutputOperationCompleted, StreamingListenerOutputOperationStarted)
from .util import batch_datetime

if TYPE_CHECKING:
    from .context import StreamingContext

log = logging.getLogger("fluvial.streaming")


def _now_ms() -> int:
    return int(time.time() * 1000)


class BatchFailedError(RuntimeError):
    """A batch failed. ``batch_time`` is its time in epoch ms, ``operation``
    what failed (``output operation 0 (foreachRDD at app.py:12)`` or
    ``generating the RDDs of ...``); ``__cause__`` is the original exception,
    of its original type even when it was raised in a worker process."""

    def __init__(self, batch_time: int, operation: str, cause: BaseException) -> None:
        self.batch_time = batch_time
        self.operation = operation
        super().__init__(f"Batch {batch_time} ms ({batch_datetime(batch_time)}) failed in {operation}: "
                         f"{type(cause).__name__}: {cause}")
        self.__cause__ = cause


RUNNING_JOB_WAIT = 2.0
"""Seconds a stop that drops batches waits for the job already running."""


class JobScheduler:
    def __init__(self, ssc: "StreamingContext") -> None:
        self.ssc = ssc
        self.clock = ssc._clock
        self.batch_ms = ssc._batch_ms
        self.start_ms = 0
        self._gen_stop = threading.Event()
        self._jobs: queue.Queue = queue.Queue()
        self._done = threading.Condition()
        self._last_generated = -1
        self._last_done = -1
        self._failed = False
        self._finished = False
        self._abort = False
        self._abandoned = False  # a stop went on without the job running
        self._gen_thread: threading.Thread | None = None
        self._job_thread: threading.Thread | None = None
        self._pending: set[int] = set()
        self._reschedule: list[int] = []
        self._first_timer_ms = 0

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        """Fix the first batch time, initialize and validate the graph (which
        may raise).

        A context recovered from a checkpoint keeps its zero time; its first
        batches are those pending at the checkpoint and those that fell due
        while the driver was down (Spark's JobGenerator.restart), generated
        at once when the threads start, then batches follow the clock."""
        now = self.clock.time_ms()
        b = self.batch_ms
        recovered = self.ssc._recovered
        if recovered is None:
            self.start_ms = self._first_timer_ms = (now // b + 1) * b
            self.ssc._graph.start(self.start_ms - b)
            return
        zero = self.ssc._graph.zero_ms
        restart = zero + ((now - zero) // b + 1) * b
        down = range(recovered.time_ms + b, restart, b)
        self._reschedule = sorted({t for t in (*recovered.pending, *down) if zero < t < restart})
        self._first_timer_ms = restart
        self.start_ms = self._reschedule[0] if self._reschedule else restart
        if self._reschedule:
            log.info("recovering: re-running batches %s (pending at the checkpoint of %d ms or due while "
                     "the driver was down)", self._reschedule, recovered.time_ms)
        self.ssc._graph.start(zero)

    def start_threads(self) -> None:
        self._gen_thread = threading.Thread(target=self._generate_loop, daemon=True,
                                            name="fluvial-job-generator")
        self._job_thread = threading.Thread(target=self._job_loop, daemon=True, name="fluvial-job-runner")
        self._job_thread.start()
        self._gen_thread.start()

    def on_scheduler_thread(self) -> bool:
        return threading.current_thread() in (self._gen_thread, self._job_thread)

    def abort(self) -> None:
        """Run no further job (the one running finishes)."""
        self._abort = True

    def stop_generating(self) -> None:
        self._gen_stop.set()
        self.clock.wake()
        if self._gen_thread is not None and self._gen_thread is not threading.current_thread():
            self._gen_thread.join()

    def generate_pending(self, pending: Callable[[], bool], deadline: float) -> None:
        """After generation stopped: generate further batches at once (not
        waiting for the clock) while ``pending()`` says received data is left."""
        while pending() and not self._failed and time.monotonic() < deadline:
            t = self.start_ms if self._last_generated < 0 else self._last_generated + self.batch_ms
            if not self.generate(t):
                return

    def stop_running(self, drain: bool, timeout: float | None = None) -> None:
        """Stop the job thread after the queued batches (``drain``, waiting at
        most ``timeout`` seconds for them) or after the job now running.

        The job running when batches are dropped gets ``RUNNING_JOB_WAIT``
        seconds to finish, as Spark's JobScheduler waits 2 s for its job
        executor; one still running then (stuck in an output operation) is
        left to its thread and the stop goes on without it. Its batch is not
        completed: no completion event, checkpoint or error is recorded."""
        if drain and not self.wait_until_done(self._last_generated, timeout):
            if not self._failed:
                log.warning("graceful stop timed out with batches still queued; they are dropped")
            drain = False
        if not drain:
            self._abort = True
            while True:
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    break
        self._jobs.put(None)
        thread = self._job_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if drain else RUNNING_JOB_WAIT)
            if thread.is_alive():
                self._abandoned = True
                log.warning("a job was still running %.0f s after the stop: the context stops without it "
                            "and its batch is not completed", RUNNING_JOB_WAIT)
        with self._done:
            self._finished = True
            self._done.notify_all()

    @property
    def last_generated(self) -> int:
        return self._last_generated

    # -- waiting ------------------------------------------------------------
    def wait_until_done(self, until_ms: int, timeout: float | None = None) -> bool:
        """Block until every batch with time <= ``until_ms`` has completed, or the
        scheduler has stopped/failed. True if those batches completed."""
        if until_ms < self.start_ms:
            return True
        target = self.start_ms + ((until_ms - self.start_ms) // self.batch_ms) * self.batch_ms
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._last_done < target and not self._failed and not self._finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._done.wait(remaining)
            return self._last_done >= target

    # -- threads ------------------------------------------------------------
    def _generate_loop(self) -> None:
        for t in self._reschedule:
            if self._gen_stop.is_set() or not self.generate(t):
                return
        t = self._first_timer_ms
        while self.clock.wait_till(t, self._gen_stop):
            if not self.generate(t):
                return
            t += self.batch_ms

    def generate(self, t: int) -> bool:
        """Allocate received blocks to batch ``t``, compute its jobs and queue
        them. False (and the context told) if that failed."""
        ssc = self.ssc
        with ssc._graph.lock:
            try:
                ssc._receiver_tracker.allocate(t)
                jobs = ssc._graph.generate_jobs(t)
            except GenerateError as exc:
                self._fail(BatchFailedError(t, exc.operation, exc.cause))
                return False
            except BaseException as exc:  # noqa: BLE001 - reported to the context
                self._fail(BatchFailedError(t, "allocating received blocks", exc))
                return False
            self._pending.add(t)
            if not self._write_checkpoint(t, wait=True):
                return False
        info = BatchInfo(t, ssc._input_info.take(t), _now_ms())
        for job in jobs:
            info._output_operation_infos[job.output_op_id] = OutputOperationInfo(
                t, job.output_op_id, job.name, job.description)
        self._last_generated = t
        if jobs:
            ssc._bus.post(StreamingListenerBatchSubmitted(info._snapshot()))
        self._jobs.put((t, jobs, info))
        return True

    def _job_loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None or self._abort:
                return
            t, jobs, info = item
            if not self._run_batch(t, jobs, info):
                return

    def _run_batch(self, t: int, jobs: list, info: BatchInfo) -> bool:
        bus = self.ssc._bus
        if jobs:
            info._processing_start_time = _now_ms()
            bus.post(StreamingListenerBatchStarted(info._snapshot()))
        for job in jobs:
            if self._abort:
                return False
            op = info._output_operation_infos[job.output_op_id]
            op._start_time = _now_ms()
            bus.post(StreamingListenerOutputOperationStarted(op._snapshot()))
            self._set_job_properties(t, job.output_op_id)
            try:
                job.run()
            except BaseException as exc:  # noqa: BLE001 - reported to the context
                if self._abandoned:  # the stop went on without it and may have stopped what it used
                    return False
                op._end_time = _now_ms()
                op._failure_reason = "".join(traceback.format_exception(exc))
                bus.post(StreamingListenerOutputOperationCompleted(op._snapshot()))
                info._processing_end_time = _now_ms()
                bus.post(StreamingListenerBatchCompleted(info._snapshot()))
                self._fail(BatchFailedError(t, f"output operation {job.output_op_id} ({job.name})", exc))
                return False
            op._end_time = _now_ms()
            bus.post(StreamingListenerOutputOperationCompleted(op._snapshot()))
        if self._abort:
            return False
        end = _now_ms()  # the jobs are done; forgetting old batches and checkpointing follow (as in Spark)
        graph = self.ssc._graph
        with graph.lock:
            try:
                graph.clear_metadata(t)
                self.ssc._receiver_tracker.cleanup(t)
            except BaseException as exc:  # noqa: BLE001
                self._fail(BatchFailedError(t, "clearing old batches", exc))
                return False
            self._pending.discard(t)
            if not self._write_checkpoint(t, wait=False):
                return False
        if jobs:
            info._processing_end_time = end
            bus.post(StreamingListenerBatchCompleted(info._snapshot()))
            try:
                self.ssc._on_batch_completed(info)
            except Exception:  # noqa: BLE001 - internal hooks (rate control) must not fail a batch
                log.exception("batch-completion hook failed for batch %d ms", t)
        with self._done:
            self._last_done = t
            self._done.notify_all()
        return True

    def _write_checkpoint(self, t: int, wait: bool) -> bool:
        """Write the metadata checkpoint of batch ``t`` (with checkpointing
        on): durably before the batch's jobs are queued (``wait``), in the
        background once it completed. A batch whose checkpoint cannot be
        written fails: running it unrecorded would break recovery."""
        writer = self.ssc._checkpoint_writer
        if writer is None:
            return True
        try:
            writer.write(t, self._pending, wait=wait)
        except BaseException as exc:  # noqa: BLE001 - reported to the context
            self._fail(BatchFailedError(t, "writing the metadata checkpoint", exc))
            return False
        return True

    def _set_job_properties(self, t: int, op_id: int) -> None:
        """Tag the Spark jobs of this output operation as Spark's JobScheduler does."""
        sc = self.ssc._sc
        sc.setJobDescription(f"Streaming job from [output operation {op_id}, batch time "
                             f"{batch_datetime(t).strftime('%H:%M:%S')}]")
        sc.setLocalProperty("spark.streaming.internal.batchTime", str(t))
        sc.setLocalProperty("spark.streaming.internal.outputOpId", str(op_id))

    def _fail(self, error: BatchFailedError) -> None:
        log.error("%s", error, exc_info=error.__cause__)
        with self._done:
            self._failed = True
            self._done.notify_all()
        self.ssc._report_error(error)
