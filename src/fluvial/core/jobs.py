"""Jobs as the user sees them: groups, tags, descriptions, cancellation and
status reporting.

Job-scoped settings (``setJobGroup``, ``setJobDescription``, job tags and
other local properties) are per driver thread, as in PySpark's pinned-thread
mode: a thread starts with none. Every job records the group, description and
tags of the thread that started it.

Cancellation is cooperative: a cancelled job stops before its next stage and
stops waiting for the tasks of its current stage (tasks already running in a
worker finish, and their results are dropped); the action then raises
:class:`JobCancelledError`. Information on the most recent
``spark.ui.retainedJobs`` jobs and ``spark.ui.retainedStages`` stages (1000
each by default) is kept for :class:`StatusTracker`.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

JOB_GROUP = "spark.jobGroup.id"
JOB_DESCRIPTION = "spark.job.description"
JOB_INTERRUPT = "spark.job.interruptOnCancel"
JOB_TAGS = "spark.job.tags"


class JobCancelledError(RuntimeError):
    """The job was cancelled (by group, tag or ``cancelAllJobs``) before it finished."""


class SparkJobInfo(NamedTuple):
    jobId: int
    stageIds: list
    status: str


class SparkStageInfo(NamedTuple):
    stageId: int
    currentAttemptId: int
    name: str
    numTasks: int
    numActiveTasks: int
    numCompletedTasks: int
    numFailedTasks: int


class SparkExecutorInfo(NamedTuple):
    host: str
    port: int
    cacheSize: int
    numRunningTasks: int
    usedOnHeapStorageMemory: int
    usedOffHeapStorageMemory: int
    totalOnHeapStorageMemory: int
    totalOffHeapStorageMemory: int


@dataclass
class Job:
    job_id: int
    group: str | None
    description: str | None
    tags: frozenset
    stage_ids: list = field(default_factory=list)
    status: str = "RUNNING"
    cancel_reason: str | None = None

    def check(self) -> None:
        """Raise JobCancelledError if this job was cancelled."""
        if self.cancel_reason is not None:
            raise JobCancelledError(f"Job {self.job_id} cancelled {self.cancel_reason}")


@dataclass
class StageRecord:
    stage_id: int
    name: str
    num_tasks: int
    active: int = 0
    completed: int = 0
    failed: int = 0
    done: bool = False


class _Local(threading.local):
    def __init__(self) -> None:
        self.properties: dict[str, str] = {}


class JobTracker:
    """Thread-safe registry of jobs and stages, and of each thread's job properties."""

    def __init__(self, retained_jobs: int = 1000, retained_stages: int = 1000) -> None:
        self._lock = threading.Lock()
        self._job_ids = itertools.count()
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._stages: OrderedDict[int, StageRecord] = OrderedDict()
        self._retained_jobs = retained_jobs
        self._retained_stages = retained_stages
        self._local = _Local()

    # -- per-thread properties ---------------------------------------------
    @property
    def properties(self) -> dict[str, str]:
        return self._local.properties

    def tags(self) -> set[str]:
        raw = self.properties.get(JOB_TAGS, "")
        return {t for t in raw.split(",") if t}

    def set_tags(self, tags: set[str]) -> None:
        if tags:
            self.properties[JOB_TAGS] = ",".join(sorted(tags))
        else:
            self.properties.pop(JOB_TAGS, None)

    @contextlib.contextmanager
    def job_group(self, group: str, description: str, interrupt: bool) -> Iterator[None]:
        """Run the block's jobs in ``group``, restoring this thread's previous settings after."""
        saved = dict(self.properties)
        self.properties.update({JOB_GROUP: group, JOB_DESCRIPTION: description,
                                JOB_INTERRUPT: str(bool(interrupt)).lower()})
        try:
            yield
        finally:
            self.properties.clear()
            self.properties.update(saved)

    # -- job lifecycle -----------------------------------------------------
    def start_job(self) -> Job:
        props = self.properties
        job = Job(next(self._job_ids), props.get(JOB_GROUP), props.get(JOB_DESCRIPTION),
                  frozenset(self.tags()))
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > self._retained_jobs:
                self._jobs.popitem(last=False)
        return job

    def end_job(self, job: Job, succeeded: bool) -> None:
        with self._lock:
            job.status = "SUCCEEDED" if succeeded else "FAILED"

    def start_stage(self, job: Job, stage_id: int, name: str, num_tasks: int) -> StageRecord:
        record = StageRecord(stage_id, name, num_tasks)
        with self._lock:
            job.stage_ids.append(stage_id)
            self._stages[stage_id] = record
            while len(self._stages) > self._retained_stages:
                self._stages.popitem(last=False)
        return record

    def task_started(self, record: StageRecord) -> None:
        with self._lock:
            record.active += 1

    def task_ended(self, record: StageRecord, ok: bool) -> None:
        with self._lock:
            record.active = max(0, record.active - 1)
            if ok:
                record.completed += 1
            else:
                record.failed += 1

    def end_stage(self, record: StageRecord) -> None:
        with self._lock:
            record.done = True
            record.active = 0

    # -- cancellation ------------------------------------------------------
    def cancel(self, reason: str, group: str | None = None, tag: str | None = None,
               everything: bool = False) -> list[int]:
        """Mark running jobs of ``group`` / with ``tag`` / all as cancelled; their ids."""
        hit = []
        with self._lock:
            for job in self._jobs.values():
                if job.status != "RUNNING" or job.cancel_reason is not None:
                    continue
                if everything or (group is not None and job.group == group) or (tag is not None and tag in job.tags):
                    job.cancel_reason = reason
                    hit.append(job.job_id)
        return hit

    # -- status ------------------------------------------------------------
    def job_ids_for_group(self, group: str | None) -> list[int]:
        with self._lock:
            return [j.job_id for j in self._jobs.values() if j.group == group]

    def active_job_ids(self) -> list[int]:
        with self._lock:
            return sorted(j.job_id for j in self._jobs.values() if j.status == "RUNNING")

    def active_stage_ids(self) -> list[int]:
        with self._lock:
            return sorted(s.stage_id for s in self._stages.values() if not s.done)

    def job_info(self, job_id: int) -> SparkJobInfo | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else SparkJobInfo(job.job_id, list(job.stage_ids), job.status)

    def stage_info(self, stage_id: int) -> SparkStageInfo | None:
        with self._lock:
            s = self._stages.get(stage_id)
            if s is None:
                return None
            return SparkStageInfo(s.stage_id, 0, s.name, s.num_tasks, s.active, s.completed, s.failed)


class StatusTracker:
    """Read-only view of recent jobs and stages (weakly consistent, as in Spark:
    information on old jobs and stages may already be dropped)."""

    def __init__(self, tracker: JobTracker, executor_infos: "callable") -> None:  # type: ignore[valid-type]
        self._tracker = tracker
        self._executor_infos = executor_infos

    def getJobIdsForGroup(self, jobGroup: str | None = None) -> list[int]:
        """Ids of known jobs of ``jobGroup`` (jobs without a group for None)."""
        return self._tracker.job_ids_for_group(jobGroup)

    def getActiveStageIds(self) -> list[int]:
        return self._tracker.active_stage_ids()

    def getActiveJobsIds(self) -> list[int]:
        return self._tracker.active_job_ids()

    def getJobInfo(self, jobId: int) -> SparkJobInfo | None:
        """Status is RUNNING, SUCCEEDED or FAILED; None for an unknown job."""
        return self._tracker.job_info(jobId)

    def getStageInfo(self, stageId: int) -> SparkStageInfo | None:
        return self._tracker.stage_info(stageId)

    def getExecutorInfos(self) -> list[SparkExecutorInfo]:
        """The driver, then one entry per worker process (port is its pid)."""
        return self._executor_infos()


class StageMonitor:
    """What an executor reports while running one stage, and how it learns of
    cancellation (``check`` raises JobCancelledError)."""

    def __init__(self, tracker: JobTracker, job: Job, record: StageRecord) -> None:
        self._tracker = tracker
        self.job = job
        self.record = record

    def check(self) -> None:
        self.job.check()

    def task_started(self) -> None:
        self._tracker.task_started(self.record)

    def task_ended(self, ok: bool) -> None:
        self._tracker.task_ended(self.record, ok)
