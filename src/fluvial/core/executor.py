"""Where tasks run. One small interface, several implementations.

``Executor.run(stage, tasks, monitor=None)`` runs every task of one stage and
returns their results in task order, or raises the first task failure; the
optional monitor (:class:`fluvial.core.jobs.StageMonitor`) hears of task
starts and ends and is polled for job cancellation. Implementations:

* :class:`InProcessExecutor` -- tasks run one after another in the calling
  thread; nothing is serialised. ``local`` and ``local[1]`` use it.
* :class:`ProcessExecutor` -- a pool of worker processes (``python -m
  fluvial.core.worker``) fed over socket pairs; the stage is pickled once with
  cloudpickle, each task carries only its split and input blocks. A worker that
  dies is replaced and its task retried up to ``spark.task.maxFailures`` times;
  an exception raised by user code fails the stage at once (as in Spark's local
  mode), re-raised in the driver with the worker's traceback attached.

A later executor (e.g. on Ray) only has to implement ``run`` and ``shutdown``.
"""
from __future__ import annotations

import collections
import os
import pickle
import socket
import subprocess
import sys
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from multiprocessing.connection import Connection
from typing import Any, Protocol, Sequence

import cloudpickle

from . import broadcast as _broadcast
from .task import Stage, TaskResult, TaskSpec, run_task


class WorkerLostError(RuntimeError):
    """A worker process died while running a task."""


class TaskFailedError(RuntimeError):
    """A task raised an exception that could not be sent back as itself."""


class Executor(Protocol):
    parallelism: int

    def run(self, stage: Stage, tasks: Sequence[tuple[int, dict]],
            monitor: Any = None) -> list[TaskResult]: ...

    def shutdown(self) -> None: ...


class InProcessExecutor:
    """Runs tasks in the caller's thread, in order. Zero copies, zero pickling."""

    def __init__(self, parallelism: int = 1) -> None:
        self.parallelism = parallelism

    python_paths: list[str] = []

    def run(self, stage: Stage, tasks: Sequence[tuple[int, dict]], monitor: Any = None) -> list[TaskResult]:
        """Run the tasks in order; ``monitor`` (optional) hears of each task and
        is checked for cancellation before each one."""
        results = []
        for task in tasks:
            split, inputs = (task.split, task.inputs) if isinstance(task, TaskSpec) else task
            if monitor is not None:
                monitor.check()
                monitor.task_started()
            try:
                results.append(run_task(stage, split, inputs))
            except BaseException:
                if monitor is not None:
                    monitor.task_ended(False)
                raise
            if monitor is not None:
                monitor.task_ended(True)
        return results

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
    """Driver-side handle of one worker process."""

    def __init__(self, env: dict[str, str]) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fluvial.core.worker", str(child.fileno())],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
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
    blocks it kept are forgotten and recomputed from lineage when next needed."""

    def __init__(self, parallelism: int, max_failures: int = 4, env: dict[str, str] | None = None,
                 store: Any = None) -> None:
        self.parallelism = parallelism
        self.max_failures = max(1, max_failures)
        self.python_paths: list[str] = []
        self.store = store
        self._env = _worker_env(env)
        self._cv = threading.Condition()
        self._shared: collections.deque = collections.deque()
        self._private: list[collections.deque] = [collections.deque() for _ in range(parallelism)]
        self._stage_bytes: dict[int, tuple[bytes, set[int]]] = {}
        self._closed = False
        self._generation = [0] * parallelism
        self._workers = [_Worker(self._env) for _ in range(parallelism)]
        self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                          name=f"fluvial-executor-{i}") for i in range(parallelism)]
        for t in self._threads:
            t.start()

    @property
    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def worker_key(self, index: int) -> tuple[int, int]:
        """Identity of the process now serving slot ``index`` (changes when it is replaced)."""
        return (index, self._generation[index])

    def _put(self, item: tuple, worker: int | None = None) -> None:
        with self._cv:
            (self._shared if worker is None else self._private[worker]).append(item)
            self._cv.notify_all()

    def _place(self, spec: Any) -> int | None:
        """The worker a task must run on (None: any), fetching blocks it reads
        from other workers into its inputs."""
        if not getattr(spec, "resident", None):
            return None
        live = {self.worker_key(i): i for i in range(self.parallelism)}
        counts = collections.Counter(spec.resident.values())
        target_key = max(counts, key=lambda k: (k in live, counts[k]))
        for bid, key in list(spec.resident.items()):
            if key != target_key or key not in live:
                spec.inputs[bid] = self.fetch(key, [bid])[bid]
                del spec.resident[bid]
        return live.get(target_key)

    def run(self, stage: Stage, tasks: Sequence[Any], monitor: Any = None) -> list[TaskResult]:
        """Run the tasks on the pool; results in task order. The first task to
        fail (in time) fails the stage; tasks not yet started are dropped.
        ``monitor`` (optional) hears of each task and is polled for
        cancellation while the stage runs."""
        payload, needed = _pickle_stage(stage)
        self._stage_bytes[stage.stage_id] = (payload, needed)
        futures = []
        try:
            for spec in tasks:
                spec = _as_spec(spec)
                fut: Future = Future()
                self._put(("task", stage.stage_id, spec, 0, fut, monitor), self._place(spec))
                futures.append(fut)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=None if monitor is None else 0.05,
                                     return_when=FIRST_EXCEPTION)
                for f in done:
                    exc = f.exception()
                    if exc is not None:
                        raise exc
                if monitor is not None:
                    monitor.check()
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
            self._stage_bytes.pop(stage.stage_id, None)

    def fetch(self, worker_key: Any, bids: list) -> dict:
        """Copy blocks a worker keeps to the driver."""
        index, generation = worker_key
        if self._generation[index] != generation:
            raise KeyError(f"blocks {bids} were lost with worker {worker_key}")
        fut: Future = Future()
        self._put(("fetch", list(bids), fut), index)
        return fut.result()

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
            if item[0] == "fetch":
                _, bids, fut = item
                try:
                    fut.set_result(self._fetch_from(index, bids))
                except BaseException as exc:  # noqa: BLE001 - forwarded to the caller
                    fut.set_exception(exc)
                continue
            _, stage_id, spec, attempt, fut, monitor = item
            if not fut.set_running_or_notify_cancel():
                continue
            if monitor is not None:
                monitor.task_started()
            while True:
                try:
                    result = self._run_on(index, stage_id, spec, attempt)
                    if monitor is not None:
                        monitor.task_ended(True)
                    fut.set_result(result)
                except WorkerLostError as lost:
                    attempt += 1
                    if not self._closed:
                        self._replace(index)
                    if self._closed or attempt >= self.max_failures or spec.resident:
                        if monitor is not None:
                            monitor.task_ended(False)
                        fut.set_exception(WorkerLostError(
                            f"task {spec.split} of stage {stage_id} lost its worker {attempt} time(s): {lost}"))
                    else:
                        continue
                except BaseException as exc:  # noqa: BLE001 - forwarded to the caller
                    if monitor is not None:
                        monitor.task_ended(False)
                    fut.set_exception(exc)
                break

    def _replace(self, index: int) -> None:
        self._workers[index].close()
        if self.store is not None:
            self.store.forget_worker(self.worker_key(index))
        self._generation[index] += 1
        if not self._closed:
            self._workers[index] = _Worker(self._env)

    def _exchange(self, index: int, message: bytes) -> Any:
        worker = self._workers[index]
        try:
            worker.conn.send_bytes(message)
            reply = worker.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            code = worker.proc.poll()
            raise WorkerLostError(f"worker pid {worker.proc.pid} exited (code {code}): {exc!r}") from None
        return pickle.loads(reply)

    def _dropped_blocks(self, index: int) -> list:
        return [] if self.store is None else self.store.take_drops(self.worker_key(index))

    def _fetch_from(self, index: int, bids: list) -> dict:
        message = pickle.dumps(("fetch", bids, self._dropped_blocks(index)), protocol=5)
        status, body = self._exchange(index, message)
        if status != "ok":
            raise KeyError(f"worker {index} could not return blocks {bids}: {body[1]}")
        return body

    def _run_on(self, index: int, stage_id: int, spec: Any, attempt: int) -> TaskResult:
        worker = self._workers[index]
        payload, needed = self._stage_bytes[stage_id]
        send_stage = None if stage_id in worker.stages else payload
        new_bcasts = {}
        for bid in needed - worker.broadcasts:
            new_bcasts[bid] = _broadcast.pickled_value(bid)
        dropped = worker.broadcasts - _broadcast.live_ids()
        keep = self.store is not None
        message = cloudpickle.dumps(("task", list(self.python_paths), stage_id, send_stage, spec.split, attempt,
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
        exc_bytes, tb_text = body
        exc = None
        if exc_bytes is not None:
            try:
                exc = pickle.loads(exc_bytes)
            except Exception:  # noqa: BLE001 - unpicklable exceptions fall back to text
                exc = None
        if exc is None:
            raise TaskFailedError(f"task {spec.split} of stage {stage_id} failed in a worker:\n{tb_text}")
        exc.add_note(f"raised in a worker process (task {spec.split} of stage {stage_id}):\n{tb_text}")
        raise exc

    def shutdown(self) -> None:
        if self._closed:
            return
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for w in self._workers:
            w.close()


def _as_spec(task: Any) -> Any:
    """Accept a :class:`TaskSpec` or a plain ``(split, inputs)`` pair."""
    return task if isinstance(task, TaskSpec) else TaskSpec(task[0], task[1])


def _pickle_stage(stage: Stage) -> tuple[bytes, set[int]]:
    with _broadcast.collecting() as ids:
        data = cloudpickle.dumps(stage, protocol=5)
    return data, set(ids)
