"""Where tasks run. One small interface, several implementations.

``Executor.run(stage, tasks, monitor=None)`` runs every task of one stage and
returns their results in task order, or raises the first task failure; the
optional monitor (:class:`fluvial.core.jobs.StageMonitor`) hears of every task
attempt's start and end (a failed attempt counts as a failed task, as in
Spark's status) and is polled for job cancellation. Implementations:

* :class:`InProcessExecutor` -- tasks run one after another in the calling
  thread; nothing is serialised. ``local`` and ``local[1]`` use it.
* :class:`ProcessExecutor` -- a pool of worker processes (``python -m
  fluvial.core.worker``) fed over socket pairs; the stage is pickled once with
  cloudpickle, each task carries only its split and input blocks. A worker that
  dies is replaced.

Retries, in both: a task attempt that fails retryably
(:func:`fluvial.core.task.is_retryable`: its worker process died, or it raised
a transient I/O error) is run again, recomputed from its lineage, up to
``max_failures`` attempts in all for that task (``spark.task.maxFailures``, or
F of a ``local[N,F]`` master); then the stage fails with
:class:`~fluvial.core.task.TaskRetriesExhaustedError`, the last failure as its
``__cause__``. Any other exception from user code fails the stage at once,
re-raised with its own type (with the worker's traceback attached as a note).
A task whose worker died while holding cached blocks the task reads cannot be
retried as planned: :class:`~fluvial.core.task.BlocksLostError` sends it back to
the scheduler, which plans the stage again. A worker found dead before a task
was sent to it does not count against that task.

A later executor (e.g. on Ray) only has to implement ``run``, ``fetch``,
``save``, ``check_workers``, ``preload`` and ``shutdown``.
"""
from __future__ import annotations

import collections
import os
import pickle
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from . import broadcast as _broadcast
from .task import (BlocksLostError, Stage, TaskResult, TaskRetriesExhaustedError, TaskSpec,
                   WorkerLostError, is_retryable, run_task)
from .worker import Pipe

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["BlocksLostError", "Executor", "InProcessExecutor", "ProcessExecutor", "TaskFailedError",
           "TaskRetriesExhaustedError", "WorkerLostError"]


class TaskFailedError(RuntimeError):
    """A task raised an exception that could not be sent back as itself;
    ``retryable`` is what :func:`~fluvial.core.task.is_retryable` said of the
    original in the worker."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_max_failures(value: int) -> int:
    """``value`` as a number of task attempts; ValueError unless at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"maxFailures (attempts per task, spark.task.maxFailures or F of local[N,F]) "
                         f"must be an integer of at least 1, got {value!r}")
    return value


def _next_attempt(stage: Stage, split: int, attempt: int, exc: BaseException, max_failures: int) -> int | None:
    """The attempt to run after attempt ``attempt`` (0-based) of ``split``
    failed with ``exc``; None when ``exc`` is not retryable (the caller
    re-raises it). Raises TaskRetriesExhaustedError, ``exc`` as its cause,
    when that was the last attempt allowed."""
    retryable = exc.retryable if isinstance(exc, TaskFailedError) else is_retryable(exc)
    if not retryable:
        return None
    if attempt + 1 >= max_failures:
        raise TaskRetriesExhaustedError(stage, split, attempt + 1, exc) from exc
    return attempt + 1


class Executor(Protocol):
    parallelism: int
    max_failures: int

    def run(self, stage: Stage, tasks: Sequence[Any], monitor: Any = None) -> list[TaskResult]: ...

    def fetch(self, locations: dict[Any, list]) -> dict: ...

    def save(self, locations: dict[Any, list[tuple[Any, str]]]) -> None: ...

    def check_workers(self) -> None: ...

    def preload(self, modules: Sequence[str]) -> None: ...

    def shutdown(self) -> None: ...


class InProcessExecutor:
    """Runs tasks in the caller's thread, in order. Zero copies, zero pickling.
    A task raising a transient I/O error is run again, up to ``max_failures``
    attempts (see the module docstring)."""

    python_paths: list[str] = []
    files_version = 0

    def __init__(self, parallelism: int = 1, max_failures: int = 4) -> None:
        self.parallelism = parallelism
        self.max_failures = check_max_failures(max_failures)

    def run(self, stage: Stage, tasks: Sequence[Any], monitor: Any = None) -> list[TaskResult]:
        """Run the tasks in order; ``monitor`` (optional) hears of each attempt
        and is checked for cancellation before each one."""
        results = []
        for task in tasks:
            spec = _as_spec(task)
            attempt: int | None = spec.attempt
            while attempt is not None:
                if monitor is not None:
                    monitor.check()
                    monitor.task_started()
                try:
                    result = run_task(stage, spec.split, spec.inputs, attempt)
                except BaseException as exc:
                    if monitor is not None:
                        monitor.task_ended(False)
                    attempt = _next_attempt(stage, spec.split, attempt, exc, self.max_failures)
                    if attempt is None:
                        raise
                    continue
                if monitor is not None:
                    monitor.task_ended(True)
                results.append(result)
                break
        return results

    def fetch(self, locations: dict[Any, list]) -> dict:
        if not locations:
            return {}
        raise KeyError(f"blocks at {locations!r}: an in-process executor keeps no blocks in workers")

    def save(self, locations: dict[Any, list[tuple[Any, str]]]) -> None:
        """Nothing to write: no worker keeps blocks, so only an empty request is valid."""
        self.fetch(locations)

    def check_workers(self) -> None:
        """Nothing to check: there are no worker processes."""

    def preload(self, modules: Sequence[str]) -> None:
        """Nothing to load: tasks run in the driver, which has the modules."""

    @property
    def worker_pids(self) -> list[int]:
        return []

    def shutdown(self) -> None:
        pass


def _worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class _Worker:
    """Driver-side handle of one worker process; ``key`` is its
    ``(slot, generation)``, the identity its kept blocks are recorded under."""

    def __init__(self, env: dict[str, str], key: tuple[int, int]) -> None:
        self.key = key
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fluvial.core.worker", str(child.fileno())],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Pipe(parent.detach())
        self.stages: set[int] = set()
        self.broadcasts: set[int] = set()

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


class ProcessExecutor:
    """A fixed pool of ``parallelism`` worker processes, started at creation.

    Cached partitions a task creates stay in its worker process (the driver
    records where); a later task reading them is queued for that worker, so a
    persisted RDD -- such as a stream's state -- is not shipped back and forth
    every batch. A task reading blocks kept by two workers runs on the one
    keeping most of them and the others are fetched. When a worker dies, the
    blocks it kept are forgotten and recomputed from lineage when next needed.

    Each slot has one serving thread, the only one that talks to its worker
    and the only one that replaces it, so a dead worker is replaced once."""

    def __init__(self, parallelism: int, max_failures: int = 4, env: dict[str, str] | None = None,
                 store: Any = None) -> None:
        self.parallelism = parallelism
        self.max_failures = check_max_failures(max_failures)
        self.python_paths: list[str] = []
        self.files_version = 0  # bumped by the context when it adds files to a directory in python_paths
        self.store = store
        self._env = _worker_env(env)
        self._cv = threading.Condition()
        self._shared: collections.deque = collections.deque()
        self._private: list[collections.deque] = [collections.deque() for _ in range(parallelism)]
        self._stage_bytes: dict[int, tuple[bytes, set[int]]] = {}
        self._closed = False
        self._generation = [0] * parallelism
        # Serving threads first: a thread starting once the worker processes
        # are busy starting too waits for a core. They touch ``_workers`` only
        # for a queued request, and nothing is queued before __init__ returns.
        self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                          name=f"fluvial-executor-{i}") for i in range(parallelism)]
        for t in self._threads:
            t.start()
        self._workers: list[_Worker] = []
        try:
            for i in range(parallelism):
                self._workers.append(_Worker(self._env, (i, 0)))
        except BaseException:
            self.shutdown()  # the threads end; the workers already started are killed
            raise

    @property
    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def worker_key(self, index: int) -> tuple[int, int]:
        """Identity of the process now serving slot ``index`` (changes when it is replaced)."""
        return (index, self._generation[index])

    def preload(self, modules: Sequence[str]) -> None:
        """Have every worker import the task machinery and ``modules`` ahead
        of its next task, so that the first tasks (a stream's first batch)
        do not pay for the imports; returns at once. A module that fails to
        import is skipped: a task needing it fails with the real error."""
        for index in range(self.parallelism):
            self._put(("preload", list(modules)), index)

    def check_workers(self) -> None:
        """Forget the blocks of worker processes that have died since they were
        last used, so the next plan recomputes them instead of sending tasks to
        a dead process. (Replacing the process is left to its slot's thread.)"""
        if self.store is None:
            return
        for worker in list(self._workers):
            if worker.proc.poll() is not None:
                self.store.forget_worker(worker.key)

    def _put(self, item: tuple, worker: int | None = None) -> None:
        with self._cv:
            (self._shared if worker is None else self._private[worker]).append(item)
            self._cv.notify_all()

    def _place(self, spec: Any) -> int | None:
        """The worker a task must run on (None: any), fetching blocks it reads
        from other workers into its inputs. BlocksLostError when a block's
        worker is gone."""
        if not getattr(spec, "resident", None):
            return None
        live = {self.worker_key(i): i for i in range(self.parallelism)}
        counts = collections.Counter(spec.resident.values())
        target_key = max(counts, key=lambda k: (k in live, counts[k]))
        elsewhere: dict = {}
        for bid, key in list(spec.resident.items()):
            if key != target_key or key not in live:
                elsewhere.setdefault(key, []).append(bid)
                del spec.resident[bid]
        spec.inputs.update(self.fetch(elsewhere))
        return live.get(target_key)

    def run(self, stage: Stage, tasks: Sequence[Any], monitor: Any = None) -> list[TaskResult]:
        """Run the tasks on the pool; results in task order. The first task to
        fail for good (in time) fails the stage; tasks not yet started are
        dropped, and blocks kept by workers for tasks of a failed stage are
        dropped too (their results are never recorded). ``monitor``
        (optional) hears of each attempt and is polled for cancellation while
        the stage runs."""
        from concurrent.futures import FIRST_EXCEPTION, Future, wait
        payload, needed = _pickle_stage(stage)
        self._stage_bytes[stage.stage_id] = (payload, needed)
        futures: list[Future] = []
        ok = False
        try:
            for spec in tasks:
                spec = _as_spec(spec)
                fut: Future = Future()
                self._put(("task", stage, spec, fut, monitor), self._place(spec))
                futures.append(fut)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=None if monitor is None else 0.05,
                                     return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done):
                    raise _stage_failure(futures)
                if monitor is not None:
                    monitor.check()
            results = [f.result() for f in futures]
            ok = True
            return results
        finally:
            self._stage_bytes.pop(stage.stage_id, None)
            for f in futures:
                f.cancel()
                if not ok:
                    f.add_done_callback(self._drop_kept_blocks)

    def _drop_kept_blocks(self, fut: Future) -> None:
        """A task of a failed stage succeeded: its worker drops the blocks it kept."""
        if fut.cancelled() or fut.exception() is not None or self.store is None:
            return
        result = fut.result()
        if result.worker is not None and result.worker == self.worker_key(result.worker[0]):
            self.store.drop_remote(result.worker, list(result.new_blocks))

    def fetch(self, locations: dict[Any, list]) -> dict:
        """Copy the blocks workers keep (``{worker key: block ids}``) to the
        driver, from every worker at once; BlocksLostError when one of them
        has died."""
        blocks: dict = {}
        for got in self._ask_keepers("fetch", locations):
            blocks.update(got)
        return blocks

    def save(self, locations: dict[Any, list[tuple[Any, str]]]) -> None:
        """Have the workers keeping blocks write them to files
        (``{worker key: [(block id, url), ...]}``), every worker at once,
        each file with :func:`fluvial.core.fsio.atomic_write` (durable when
        this returns) as the bytes :func:`fluvial.core.table.block_bytes`
        gives. The blocks stay in their workers. BlocksLostError when a
        worker has died; a failed write raises the worker's error (an
        OSError naming the file) and may leave the other files written."""
        self._ask_keepers("save", locations)

    def _ask_keepers(self, kind: str, locations: dict[Any, list]) -> list:
        from concurrent.futures import Future, wait
        futures = []
        for worker_key, items in locations.items():
            index, generation = worker_key
            if self._generation[index] != generation:
                raise BlocksLostError(f"blocks {_block_ids(kind, items)} were lost with worker {worker_key}")
            fut: Future = Future()
            self._put((kind, list(items), worker_key, fut), index)
            futures.append(fut)
        wait(futures)  # none still at work when this raises
        return [fut.result() for fut in futures]

    def _next(self, index: int) -> tuple | None:
        with self._cv:
            while True:
                if self._closed:
                    return None
                if self._private[index]:
                    return self._private[index].popleft()
                if self._shared:
                    return self._shared.popleft()
                self._cv.wait()

    def _serve(self, index: int) -> None:
        while True:
            item = self._next(index)
            if item is None:
                return
            self._handle(index, item)
            # an idle thread must not keep the last stage, and the RDDs it
            # reads, alive: their cached blocks are freed when they are collected
            del item

    def _handle(self, index: int, item: tuple) -> None:
        if item[0] == "preload":
            self._preload_on(index, item[1])
            return
        if item[0] in ("fetch", "save"):
            kind, items, worker_key, fut = item
            try:
                fut.set_result(self._block_request(index, kind, worker_key, items))
            except BaseException as exc:  # noqa: BLE001 - forwarded to the caller
                fut.set_exception(exc)
            return
        _, stage, spec, fut, monitor = item
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(self._attempts(index, stage, spec, monitor))
        except BaseException as exc:  # noqa: BLE001 - forwarded to the caller
            fut.set_exception(exc)

    def _preload_on(self, index: int, modules: list[str]) -> None:
        self._replace_if_dead(index)
        message = pickle.dumps(("preload", modules, self._dropped_blocks(index)), protocol=5)
        try:
            self._exchange(index, message)
        except WorkerLostError:
            pass  # the slot's next task replaces the worker

    def _attempts(self, index: int, stage: Stage, spec: Any, monitor: Any) -> TaskResult:
        """Run ``spec`` on slot ``index`` until an attempt succeeds, a failure
        is final, or the task's cached inputs are lost (BlocksLostError)."""
        attempt: int | None = spec.attempt
        while attempt is not None:
            self._replace_if_dead(index)
            lost = [bid for bid, key in spec.resident.items() if key != self.worker_key(index)]
            if lost:  # the worker keeping them died before this task reached it
                raise BlocksLostError(f"blocks {lost} read by task {spec.split} of stage {stage.stage_id} "
                                      f"were lost with their worker", {spec.split: attempt})
            if monitor is not None:
                monitor.task_started()
            try:
                result = self._run_on(index, stage.stage_id, spec, attempt)
            except BaseException as exc:
                if monitor is not None:
                    monitor.task_ended(False)
                if isinstance(exc, WorkerLostError):
                    if self._closed:
                        raise
                    self._replace(index)
                    if spec.resident:  # this worker kept blocks the task reads: gone with it
                        if attempt + 1 >= self.max_failures:
                            raise TaskRetriesExhaustedError(stage, spec.split, attempt + 1, exc) from exc
                        raise BlocksLostError(f"task {spec.split} of stage {stage.stage_id} lost its worker, "
                                              f"which kept blocks it reads: {exc}",
                                              {spec.split: attempt + 1}) from exc
                attempt = _next_attempt(stage, spec.split, attempt, exc, self.max_failures)
                if attempt is None:
                    raise
                continue
            if monitor is not None:
                monitor.task_ended(True)
            return result
        raise AssertionError("unreachable")

    def _replace_if_dead(self, index: int) -> None:
        """Replace slot ``index``'s worker if it died while idle (not counted
        against any task)."""
        if not self._closed and self._workers[index].proc.poll() is not None:
            self._replace(index)

    def _replace(self, index: int) -> None:
        self._workers[index].close()
        if self.store is not None:
            self.store.forget_worker(self.worker_key(index))
        self._generation[index] += 1
        if not self._closed:
            self._workers[index] = _Worker(self._env, self.worker_key(index))

    def _exchange(self, index: int, message: bytes) -> Any:
        worker = self._workers[index]
        try:
            worker.conn.send_bytes(message)
            reply = worker.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            try:
                code = worker.proc.wait(timeout=1)  # a closed pipe means it is exiting
            except subprocess.TimeoutExpired:
                code = None
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited (code {code})"
            raise WorkerLostError(f"worker pid {worker.proc.pid} {how}: {exc!r}") from None
        return pickle.loads(reply)

    def _dropped_blocks(self, index: int) -> list:
        return [] if self.store is None else self.store.take_drops(self.worker_key(index))

    def _block_request(self, index: int, kind: str, worker_key: Any, items: list) -> Any:
        """A ``fetch`` or ``save`` of blocks the worker in slot ``index`` keeps."""
        self._replace_if_dead(index)
        bids = _block_ids(kind, items)
        if self.worker_key(index) != worker_key:
            raise BlocksLostError(f"blocks {bids} were lost with worker {worker_key}")
        message = pickle.dumps((kind, items, self._dropped_blocks(index)), protocol=5)
        try:
            status, body = self._exchange(index, message)
        except WorkerLostError as exc:
            if not self._closed:
                self._replace(index)
            raise BlocksLostError(f"blocks {bids} were lost with worker {worker_key}: {exc}") from exc
        if status == "ok":
            return body
        exc_bytes, tb_text = body[0], body[1]
        message_text = f"worker {index} could not {'return' if kind == 'fetch' else 'write'} blocks {bids}: {tb_text}"
        if kind == "save" and exc_bytes is not None:
            error = pickle.loads(exc_bytes)
            error.add_note(message_text)
            raise error
        raise (KeyError if kind == "fetch" else RuntimeError)(message_text)

    def _run_on(self, index: int, stage_id: int, spec: Any, attempt: int) -> TaskResult:
        worker = self._workers[index]
        stage_bytes = self._stage_bytes.get(stage_id)
        if stage_bytes is None:
            raise RuntimeError(f"stage {stage_id} has ended (it failed or was cancelled); "
                               f"task {spec.split} is not run again")
        payload, needed = stage_bytes
        send_stage = None if stage_id in worker.stages else payload
        new_bcasts = {}
        for bid in needed - worker.broadcasts:
            new_bcasts[bid] = _broadcast.pickled_value(bid)
        dropped = worker.broadcasts - _broadcast.live_ids()
        keep = self.store is not None
        import cloudpickle
        message = cloudpickle.dumps(("task", list(self.python_paths), self.files_version, stage_id, send_stage, spec.split, attempt,
                                     spec.inputs, list(spec.resident), keep, new_bcasts, dropped,
                                     self._dropped_blocks(index)), protocol=5)
        status, body = self._exchange(index, message)
        worker.stages.add(stage_id)
        if len(worker.stages) > 64:
            worker.stages = {stage_id}
        worker.broadcasts |= set(new_bcasts)
        worker.broadcasts -= dropped
        if status == "ok":
            if keep and body.new_blocks:
                body.worker = self.worker_key(index)
            return body
        exc_bytes, tb_text, retryable = body
        exc = None
        if exc_bytes is not None:
            try:
                exc = pickle.loads(exc_bytes)
            except Exception:  # noqa: BLE001 - unpicklable exceptions fall back to text
                exc = None
        if exc is None:
            raise TaskFailedError(f"task {spec.split} of stage {stage_id} failed in a worker:\n{tb_text}",
                                  retryable)
        exc.add_note(f"raised in a worker process (task {spec.split} of stage {stage_id}, "
                     f"attempt {attempt}):\n{tb_text}")
        raise exc

    def shutdown(self) -> None:
        if self._closed:
            return
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for w in self._workers:
            w.close()


def _block_ids(kind: str, items: list) -> list:
    """The block ids of a ``fetch`` (ids) or ``save`` (``(id, url)`` pairs) request."""
    return list(items) if kind == "fetch" else [bid for bid, _url in items]


def _stage_failure(futures: Sequence[Future]) -> BaseException:
    """What a stage whose tasks failed raises: the first task failure that
    planning again cannot mend (a user error, exhausted retries), else the
    lost blocks, carrying the failure counts of every task stopped by them."""
    errors = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
    final = [e for e in errors if not isinstance(e, BlocksLostError)]
    if final:
        return final[0]
    lost = errors[0]
    for other in errors[1:]:
        for split, n in other.failures.items():
            lost.failures[split] = max(lost.failures.get(split, 0), n)
    return lost


def _as_spec(task: Any) -> Any:
    """Accept a :class:`TaskSpec` or a plain ``(split, inputs)`` pair."""
    return task if isinstance(task, TaskSpec) else TaskSpec(task[0], task[1])


def _pickle_stage(stage: Stage) -> tuple[bytes, set[int]]:
    import cloudpickle
    with _broadcast.collecting() as ids:
        data = cloudpickle.dumps(stage, protocol=5)
    return data, set(ids)
