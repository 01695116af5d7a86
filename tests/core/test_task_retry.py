"""Task retries (spark.task.maxFailures, local[N,F]): a task whose worker
process dies, or that raises a transient I/O error, runs again -- recomputed
from lineage, cached blocks lost with a worker included -- up to maxFailures
attempts; other errors fail the job at once. Workers are real processes,
killed with SIGKILL.

Attempts run in different processes, so tasks count them in files."""
from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fluvial import SparkConf, TaskContext
from fluvial.core.context import parse_master, task_max_failures
from fluvial.core.task import TaskRetriesExhaustedError, WorkerLostError
from support import make_context, wait_until

# (executor, master): maxFailures is spark.task.maxFailures (default 4) for
# local[2], and F=2 for local[2,2] even though the conf says 5.
CONFIGS = [("inprocess", "local[2]"), ("processes", "local[2]"),
           ("inprocess", "local[2,2]"), ("processes", "local[2,2]")]


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"{c[0]}-{c[1]}")
def sc(request):
    executor, master = request.param
    conf = {"spark.master": master} if master == "local[2]" else {"spark.master": master,
                                                                    "spark.task.maxFailures": "5"}
    context = make_context(executor, **conf)
    yield context
    context.stop()


def max_failures(sc) -> int:
    return task_max_failures(sc.master, sc.getConf())


def needs_workers(sc) -> None:
    """Worker-killing tests run once, on worker processes with the tightest
    budget (local[2,2]: a single retry)."""
    if not sc._executor.worker_pids:
        pytest.skip("kills worker processes; this context runs tasks in the driver")
    if max_failures(sc) != 2:
        pytest.skip("worker kills are tested on local[2,2]")


def record_attempt(path) -> int:
    """Append this attempt's number (TaskContext.attemptNumber) to ``path``;
    how many attempts were recorded before it."""
    with open(path, "a+") as f:
        f.seek(0)
        before = len(f.read().split())
        f.write(f"{TaskContext.get().attemptNumber()}\n")
    return before


def recorded(path) -> list[int]:
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def stage_info(sc, group: str):
    [job_id] = sc.statusTracker().getJobIdsForGroup(group)
    return sc.statusTracker().getStageInfo(sc.statusTracker().getJobInfo(job_id).stageIds[-1])


def dead(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie not yet reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# -- master URL -----------------------------------------------------------------

def test_local_master_with_failures_sets_cores_and_attempts_per_task():
    conf = SparkConf(loadDefaults=False).set("spark.task.maxFailures", "7")
    assert (parse_master("local[2,3]"), task_max_failures("local[2,3]", conf)) == (2, 3)
    assert (parse_master("local[*, 5]"), task_max_failures("local[*, 5]", conf)) == (os.cpu_count(), 5)
    assert task_max_failures("local[2]", conf) == 7
    assert task_max_failures("local", SparkConf(loadDefaults=False)) == 4
    with pytest.raises(ValueError, match=r"'local\[2,0\]'.*attempts per task F must be at least 1"):
        parse_master("local[2,0]")
    with pytest.raises(ValueError, match=r"'local\[0\]'.*cores N must be at least 1"):
        parse_master("local[0]")
    with pytest.raises(ValueError, match=r"Could not parse master URL 'local\[2,x\]'"):
        parse_master("local[2,x]")
    with pytest.raises(ValueError, match="spark.task.maxFailures must be at least 1.*got 0"):
        task_max_failures("local[2]", SparkConf(loadDefaults=False).set("spark.task.maxFailures", "0"))


def test_context_takes_max_failures_from_the_master_before_the_conf(sc):
    expected = 2 if sc.master == "local[2,2]" else 4
    assert sc._executor.max_failures == expected == max_failures(sc)
    assert sc.defaultParallelism == 2


# -- retryable errors -------------------------------------------------------------

@pytest.mark.parametrize("error", [ConnectionError, TimeoutError, EOFError])
def test_transient_error_twice_then_success_needs_three_attempts(sc, tmp_path, error):
    """Partition 1 fails twice; the other partitions run once. With
    maxFailures 4 the job succeeds on the third attempt; with 2 it fails,
    naming the stage, the partition, the attempts and the last error."""
    def flaky(i, records):
        if record_attempt(tmp_path / f"p{i}") < 2 and i == 1:
            raise error(f"peer went away (partition {i})")
        return [x * 2 for x in records]
    rdd = sc.parallelize(range(9), 3).mapPartitionsWithIndex(flaky)
    if max_failures(sc) >= 3:
        assert rdd.collect() == [x * 2 for x in range(9)]
        assert recorded(tmp_path / "p1") == [0, 1, 2]
        assert recorded(tmp_path / "p0") == recorded(tmp_path / "p2") == [0]
    else:
        with pytest.raises(TaskRetriesExhaustedError) as failed:
            rdd.collect()
        err = failed.value
        assert type(err.__cause__) is error and "peer went away (partition 1)" in str(err.__cause__)
        assert (err.partition, err.attempts) == (1, 2)
        assert f"partition 1 in result stage {err.stage_id} " in str(err)
        assert f"failed 2 times (maxFailures is 2); most recent failure: {error.__name__}" in str(err)
        assert recorded(tmp_path / "p1") == [0, 1]
        # the other tasks ran once, or never: a failed stage drops tasks not started
        assert recorded(tmp_path / "p0") in ([0], []) and recorded(tmp_path / "p2") in ([0], [])


def test_failed_attempts_are_counted_in_the_stage_status(sc, tmp_path):
    def flaky(x):
        if record_attempt(tmp_path / "n") == 0:
            raise ConnectionResetError("reset by peer")
        return x
    sc.setJobGroup("flaky-once", "one failed attempt")
    try:
        assert sc.parallelize([1, 2], 1).map(flaky).collect() == [1, 2]
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    info = stage_info(sc, "flaky-once")
    assert (info.numTasks, info.numCompletedTasks, info.numFailedTasks) == (1, 1, 1)


@pytest.mark.parametrize("error", [ValueError, FileNotFoundError])
def test_deterministic_error_fails_the_job_at_once_with_its_own_type(sc, tmp_path, error):
    def broken(x):
        record_attempt(tmp_path / "n")
        raise error(f"bad record {x}")
    with pytest.raises(error, match="bad record 5"):
        sc.parallelize([5], 1).map(broken).collect()
    assert recorded(tmp_path / "n") == [0]


def test_failed_attempts_leave_no_accumulator_updates(sc, tmp_path):
    seen = sc.accumulator(0)

    def flaky(i, records):
        records = list(records)
        seen.add(len(records))
        if record_attempt(tmp_path / f"p{i}") == 0:
            raise OSError("transient")
        return records
    assert sc.parallelize(range(4), 2).mapPartitionsWithIndex(flaky).sum() == 6
    assert seen.value == 4


# -- worker processes killed --------------------------------------------------------

def test_worker_killed_mid_task_is_replaced_and_the_task_retried(sc, tmp_path):
    needs_workers(sc)
    started = tmp_path / "pid"
    counted = sc.accumulator(0)

    def hang_first_time(i, records):
        records = list(records)
        counted.add(len(records))
        if i == 1 and TaskContext.get().attemptNumber() == 0:
            tmp = tmp_path / "pid.tmp"
            tmp.write_text(str(os.getpid()))
            os.replace(tmp, started)
            threading.Event().wait(30)  # the test kills this process long before
        return [x * 10 for x in records]

    def job():
        sc.setJobGroup("killed-mid-task", "task 1's worker is killed while it runs")
        return sc.parallelize(range(40), 4).mapPartitionsWithIndex(hang_first_time).collect()
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(job)
        wait_until(started.exists, "task 1 to start")
        pid = int(started.read_text())
        assert pid in sc._executor.worker_pids
        os.kill(pid, signal.SIGKILL)
        assert result.result(timeout=30) == [x * 10 for x in range(40)]
    assert pid not in sc._executor.worker_pids and len(sc._executor.worker_pids) == 2
    assert counted.value == 40
    info = stage_info(sc, "killed-mid-task")
    assert (info.numCompletedTasks, info.numFailedTasks) == (4, 1)


def test_cached_blocks_lost_with_the_worker_running_the_task_are_recomputed(sc, tmp_path):
    """Both cached partitions live in one worker (computed by one coalesced
    task). The task reading partition 0 kills that worker: partition 1's task,
    queued behind it, finds its block gone too. The stage is planned again,
    both partitions are recomputed from lineage, and only the killed task
    counts a failed attempt (its retry is attemptNumber 1)."""
    needs_workers(sc)
    computed = sc.accumulator(0)

    def plus_one(x):
        computed.add(1)
        return x + 1
    cached = sc.parallelize(range(20), 2).map(plus_one).cache()
    assert cached.coalesce(1).sum() == sum(range(1, 21)) and computed.value == 20
    owner = sc._blocks.location(("rdd", cached.id(), 0))
    assert owner is not None and sc._blocks.location(("rdd", cached.id(), 1)) == owner
    marker = tmp_path / "killed"

    def die_once(i, records):
        records = list(records)
        if i == 0 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return [(i, TaskContext.get().attemptNumber(), sum(records))]
    out = cached.mapPartitionsWithIndex(die_once).collect()
    assert out == [(0, 1, sum(range(1, 11))), (1, 0, sum(range(11, 21)))]
    assert computed.value == 40
    assert sc._blocks.location(("rdd", cached.id(), 0)) not in (None, owner)
    assert cached.sum() == sum(range(1, 21)) and computed.value == 40


def test_task_killing_the_worker_with_its_cached_input_fails_after_max_failures_in_all(sc, tmp_path):
    """Attempts are counted across the re-planning that recomputes the lost
    block, so the job fails after maxFailures attempts, not more."""
    needs_workers(sc)
    cached = sc.parallelize(range(5), 1).cache()
    assert cached.count() == 5
    counter = tmp_path / "n"

    def die(records):
        record_attempt(counter)
        os.kill(os.getpid(), signal.SIGKILL)
        yield from records
    n = max_failures(sc)
    with pytest.raises(TaskRetriesExhaustedError, match=f"partition 0 .* failed {n} times") as failed:
        cached.mapPartitions(die).collect()
    assert isinstance(failed.value.__cause__, WorkerLostError)
    assert recorded(counter) == list(range(n))
    assert cached.count() == 5


def test_worker_that_died_idle_costs_no_task_attempt(sc, tmp_path):
    """A worker killed between jobs is found dead before the next job is
    planned: its cached blocks are recomputed and no attempt fails."""
    needs_workers(sc)
    cached = sc.parallelize(range(10), 2).map(lambda x: x * 3).cache()
    assert cached.sum() == 135
    index, _ = sc._blocks.location(("rdd", cached.id(), 0))
    pid = sc._executor.worker_pids[index]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: dead(pid), f"worker pid {pid} to exit")
    sc.setJobGroup("after-idle-kill", "reads blocks of a worker that died idle")
    try:
        assert sorted(cached.map(lambda x: (x, TaskContext.get().attemptNumber())).collect()) == \
            [(x * 3, 0) for x in range(10)]
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert stage_info(sc, "after-idle-kill").numFailedTasks == 0


def test_blocks_cached_by_tasks_of_a_failed_stage_are_dropped_by_their_worker(sc, tmp_path):
    needs_workers(sc)
    done = str(tmp_path / "partition-0-done")

    def fail_partition_1(i, records):
        import os
        import time
        if i == 1:  # fail only once partition 0 has run, however loaded the machine
            deadline = time.monotonic() + 30
            while not os.path.exists(done) and time.monotonic() < deadline:
                time.sleep(0.005)
            raise ValueError("partition 1 is broken")
        records = list(records)
        open(done, "w").close()
        return records
    rdd = sc.parallelize(range(10), 2).mapPartitionsWithIndex(fail_partition_1).cache()
    with pytest.raises(ValueError, match="partition 1 is broken"):
        rdd.collect()
    bid = ("rdd", rdd.id(), 0)
    assert bid not in sc._blocks

    def dropping_worker():
        return [key for key, bids in list(sc._blocks._drops.items()) if bid in bids]
    wait_until(dropping_worker, "partition 0's worker to be told to drop it")
    [key] = dropping_worker()
    with pytest.raises(KeyError, match="could not return blocks"):
        sc._executor.fetch({key: [bid]})  # the drop travels first: the worker no longer has it
