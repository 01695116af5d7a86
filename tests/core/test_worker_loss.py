"""A worker process killed with SIGKILL mid-task is replaced; the task is
retried up to spark.task.maxFailures times."""
from __future__ import annotations

import os
import signal

import pytest
from core_helpers import context

from fluvial.core.executor import TaskRetriesExhaustedError, WorkerLostError


@pytest.fixture(scope="module")
def sc_processes():
    sc = context("processes", cores=2, **{"spark.task.maxFailures": "3"})
    yield sc
    sc.stop()


def test_worker_killed_mid_task_is_replaced_and_job_succeeds(sc_processes, tmp_path):
    sc = sc_processes
    marker = tmp_path / "killed-pid"
    before = set(sc._executor.worker_pids)
    acc = sc.accumulator(0)

    def maybe_die(i, it):
        records = list(it)
        acc.add(len(records))
        if i == 2 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return [x * 10 for x in records]
    result = sc.parallelize(range(40), 4).mapPartitionsWithIndex(maybe_die).collect()
    assert result == [x * 10 for x in range(40)]
    killed = int(marker.read_text())
    assert killed in before
    assert killed not in sc._executor.worker_pids and len(sc._executor.worker_pids) == 2
    assert acc.value == 40  # the killed attempt's updates are not counted
    assert sc.parallelize(range(10), 2).map(lambda x: x + 1).sum() == 55


def test_task_that_always_kills_its_worker_fails_after_max_failures(sc_processes):
    def die(_):
        os.kill(os.getpid(), signal.SIGKILL)
    with pytest.raises(TaskRetriesExhaustedError, match="3 time") as failed:
        sc_processes.parallelize([1], 1).foreach(die)
    assert isinstance(failed.value.__cause__, WorkerLostError)
    assert sc_processes.parallelize(range(4), 2).count() == 4
