"""Turns an action on an RDD into stages and runs them on an executor.

Stages are cut at shuffle dependencies. Before a result stage runs, every
shuffle it (transitively) reads whose map output is not yet in the block store
is computed, parents first. Map output stays in the store until its
``ShuffledRDD`` is garbage collected, so a second action on the same lineage
does not redo the map stage. Cached partitions and checkpointed RDDs cut the
lineage walk: what is stored is read, not recomputed.

Failures: the executor retries each task (``spark.task.maxFailures``, see
:mod:`fluvial.core.executor`). A cached block kept by a worker process that
died is forgotten and recomputed from lineage by the next task needing it;
when that loss is only found while a stage runs (BlocksLostError), the stage
is planned again and re-run, at most ``MAX_STAGE_ATTEMPTS`` times in a row.
Shuffle map output is held by the driver, so no worker loss takes it away.
Results, new block locations and accumulator updates are applied only from
the stage run that succeeded.
"""
from __future__ import annotations

import dataclasses
import itertools
import threading
from typing import Any, Callable, Iterable, Sequence

from .jobs import Job, JobTracker, StageMonitor
from .shuffle import NarrowDependency, ShuffleDependency, serialize_bucket
from .storage import BlockStore
from .task import BlocksLostError, Stage, TaskResult, TaskSpec

_MISSING = object()

# Runs of one stage in a row that may end in lost blocks before the job fails
# (Spark's spark.stage.maxConsecutiveAttempts, whose default is 4).
MAX_STAGE_ATTEMPTS = 4


class DAGScheduler:
    def __init__(self, executor: Any, store: BlockStore, on_accumulators: Callable[[dict], None],
                 listener: Callable[[str, dict], None] | None = None,
                 tracker: JobTracker | None = None, inline: Any = None) -> None:
        self.executor = executor
        # Runs stages whose every task reads nothing (an empty batch) in this
        # process, sparing the round trips to workers. Only given when the
        # driver hashes keys as the workers do, so partitioning stays consistent.
        self.inline = inline
        self.tracker = tracker if tracker is not None else JobTracker()
        self.store = store
        self._on_accumulators = on_accumulators
        self._stage_ids = itertools.count()
        self._lock = threading.RLock()
        self._listener = listener

    # -- public -------------------------------------------------------------
    def run_job(self, rdd: Any, func: Callable[[Any], Any], partitions: Iterable[int] | None = None,
                description: str = "", job: Job | None = None) -> list[Any]:
        """Run ``func`` over the records of each requested partition of ``rdd``.

        Returns the function's results in the order of ``partitions``. An
        exception from user code propagates unchanged (with a note naming the
        task); a cancelled ``job`` raises JobCancelledError before its next stage."""
        n = rdd.getNumPartitions()
        splits = list(range(n) if partitions is None else partitions)
        for s in splits:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < n:
                raise ValueError(f"partitions: {s!r} is not a partition index of {rdd!r} "
                                 f"(it has {n} partitions)")
        own_job = job is None
        job = self.tracker.start_job() if job is None else job
        ok = False
        try:
            with self._lock:
                self.executor.check_workers()
                self._compute_shuffles(rdd, job)
                stage = Stage(next(self._stage_ids), rdd, "result", func=func, description=description)
                results = self._run_stage(stage, splits, job)
            ok = True
        finally:
            if own_job:
                self.tracker.end_job(job, ok)
        return [r.value for r in results]

    # -- internals ----------------------------------------------------------
    def _run_stage(self, stage: Stage, splits: Sequence[int], job: Job) -> list[TaskResult]:
        job.check()
        tasks = [self.task_spec(stage.rdd, split) for split in splits]
        name = f"{stage.kind} stage of {stage.rdd!r}" + (f": {stage.description}" if stage.description else "")
        record = self.tracker.start_stage(job, stage.stage_id, name, len(tasks))
        if self._listener:
            self._listener("stage_submitted", {"stage_id": stage.stage_id, "tasks": len(tasks),
                                               "kind": stage.kind})
        try:
            executor = self.executor
            if self.inline is not None and _reads_nothing(stage.rdd, tasks):
                executor = self.inline
            failures: dict[int, int] = {}
            for attempt in itertools.count(1):
                try:
                    results = executor.run(stage, tasks, StageMonitor(self.tracker, job, record))
                    break
                except BlocksLostError as lost:
                    # a worker died keeping cached blocks the stage reads: they
                    # are forgotten now; plan again, recomputing them
                    if attempt >= MAX_STAGE_ATTEMPTS:
                        lost.add_note(f"{name} was planned {attempt} times and lost blocks with a "
                                      f"worker each time; giving up")
                        raise
                    for split, n in lost.failures.items():
                        failures[split] = max(failures.get(split, 0), n)
                    self.executor.check_workers()
                    self._compute_shuffles(stage.rdd, job)
                    tasks = [self.task_spec(stage.rdd, split) for split in splits]
                    for t in tasks:
                        t.attempt = failures.get(t.split, 0)
                    # a new stage id: workers cache stages by id, and the lineage
                    # pickled before (cut at the lost blocks) must not be reused
                    stage = dataclasses.replace(stage, stage_id=next(self._stage_ids))
        finally:
            self.tracker.end_stage(record)
        for r in results:
            for bid, data in r.new_blocks.items():
                if r.worker is None:
                    self.store.put(bid, data)
                else:
                    self.store.put_remote(bid, r.worker)
            if r.accumulator_updates:
                self._on_accumulators(r.accumulator_updates)
        if self._listener:
            self._listener("stage_completed", {"stage_id": stage.stage_id, "kind": stage.kind})
        return results

    def _compute_shuffles(self, rdd: Any, job: Job) -> None:
        for dep in self._missing_shuffles(rdd):
            parent = dep.rdd
            self._compute_shuffles(parent, job)
            stage = Stage(next(self._stage_ids), parent, "shuffle", partitioner=dep.partitioner)
            missing = [m for m in range(parent.getNumPartitions())
                       if ("shuffle", dep.shuffle_id, m) not in self.store]
            results = self._run_stage(stage, missing, job)
            for m, r in zip(missing, results):
                self.store.put(("shuffle", dep.shuffle_id, m), r.value)

    def _missing_shuffles(self, rdd: Any) -> list[ShuffleDependency]:
        """Shuffle dependencies reachable through narrow deps whose map output is incomplete."""
        found: list[ShuffleDependency] = []
        seen: set[int] = set()
        stack = [rdd]
        while stack:
            r = stack.pop()
            if r._id in seen:
                continue
            seen.add(r._id)
            if r._fully_stored():
                continue
            for dep in r._deps:
                if isinstance(dep, ShuffleDependency):
                    n = dep.rdd.getNumPartitions()
                    if any(("shuffle", dep.shuffle_id, m) not in self.store for m in range(n)):
                        found.append(dep)
                else:
                    stack.append(dep.rdd)
        return found

    def task_inputs(self, rdd: Any, split: int) -> dict:
        """Every block the task computing ``rdd[split]`` reads, all held by the
        driver (fetching any a worker keeps)."""
        spec = self.task_spec(rdd, split)
        spec.inputs.update(self.read_blocks(list(spec.resident)))
        return spec.inputs

    def task_spec(self, rdd: Any, split: int) -> TaskSpec:
        """The task computing ``rdd[split]``: driver-held blocks it reads go in
        ``inputs``; blocks a worker keeps are listed in ``resident``."""
        inputs: dict = {}
        resident: dict = {}
        stack = [(rdd, split)]
        seen: set[tuple[int, int]] = set()
        store = self.store
        while stack:
            r, s = stack.pop()
            if (r._id, s) in seen:
                continue
            seen.add((r._id, s))
            if r._keeps_blocks():
                bid = ("rdd", r._id, s)
                data = r._stored_block(s, store, _MISSING)
                if data is not _MISSING:
                    inputs[bid] = data
                    continue
                where = store.location(bid)
                if where is not None:
                    resident[bid] = where
                    continue
            r._own_inputs(s, inputs, store)
            for dep in r._deps:
                if isinstance(dep, NarrowDependency):
                    stack.extend((dep.rdd, p) for p in dep.parents(s))
        return TaskSpec(split, inputs, resident)

    def read_blocks(self, bids: list) -> dict:
        """Blocks' data in the driver, those that workers keep fetched from all
        of them at once. KeyError when one is not stored; BlocksLostError
        when the worker keeping one died."""
        found: dict = {}
        remote: dict = {}
        for bid in bids:
            data = self.store.get(bid, _MISSING)
            if data is not _MISSING:
                found[bid] = data
                continue
            where = self.store.location(bid)
            if where is None:
                raise KeyError(f"block {bid} is not stored")
            remote.setdefault(where, []).append(bid)
        found.update(self.executor.fetch(remote))
        return found

    def save_blocks(self, targets: dict) -> None:
        """Have the workers keeping blocks write them to files
        (``{block id: url}``), all at once (:meth:`Executor.save`); the
        blocks stay where they are. KeyError when a block is not kept by a
        worker; BlocksLostError when its worker died."""
        by_worker: dict = {}
        for bid, url in targets.items():
            where = self.store.location(bid)
            if where is None:
                raise KeyError(f"block {bid} is not kept by a worker")
            by_worker.setdefault(where, []).append((bid, url))
        self.executor.save(by_worker)


_EMPTY_BLOB = serialize_bucket([])


def _reads_nothing(rdd: Any, tasks: Sequence[TaskSpec]) -> bool:
    """True when every task's inputs are empty and the stage's lineage reads
    nothing but its inputs (no files or other outside sources)."""
    for t in tasks:
        if t.resident:
            return False
        for data in t.inputs.values():
            if data != _EMPTY_BLOB and not (isinstance(data, list) and all(b == _EMPTY_BLOB for b in data)):
                return False
    stack, seen = [rdd], set()
    while stack:
        r = stack.pop()
        if r._id in seen:
            continue
        seen.add(r._id)
        if not r._deps and not r._input_backed:
            return False
        stack.extend(d.rdd for d in r._deps if isinstance(d, NarrowDependency))
    return True
