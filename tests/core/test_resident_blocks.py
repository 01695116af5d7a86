"""Cached partitions stay in the worker process that computed them."""
from __future__ import annotations

import os
import pickle
import signal

import pytest

from support import make_context


@pytest.fixture(scope="module")
def sc():
    context = make_context("processes")
    yield context
    context.stop()


def test_persisted_partitions_stay_in_their_worker_and_are_not_recomputed(sc):
    evaluated = sc.accumulator(0)

    def count(x):
        evaluated.add(1)
        return x * 2
    rdd = sc.parallelize(range(100), 4).map(count).cache()
    assert sorted(rdd.collect()) == [x * 2 for x in range(100)]
    assert evaluated.value == 100
    keys = {sc._blocks.location(("rdd", rdd.id(), s)) for s in range(4)}
    assert None not in keys and sc._blocks.get(("rdd", rdd.id(), 0)) is None
    assert rdd.map(lambda x: x + 1).sum() == sum(x * 2 + 1 for x in range(100))
    assert evaluated.value == 100


def test_a_task_reading_blocks_of_two_workers_fetches_the_others(sc):
    a = sc.parallelize(range(10), 2).map(lambda x: (x % 3, x)).partitionBy(2).cache()
    b = a.mapValues(lambda v: -v).cache()
    a.count()
    b.count()
    joined = sorted(a.join(b).collect())
    expected = sorted((k, (v, w)) for k, v in [(x % 3, x) for x in range(10)]
                      for k2, w in [(x % 3, -x) for x in range(10)] if k == k2)
    assert joined == expected


def test_blocks_of_a_killed_worker_are_recomputed_from_lineage(sc):
    rdd = sc.parallelize(range(50), 2).map(lambda x: x + 1).cache()
    assert rdd.sum() == sum(range(1, 51))
    victim = sc._blocks.location(("rdd", rdd.id(), 0))
    os.kill(sc._executor.worker_pids[victim[0]], signal.SIGKILL)
    assert sorted(rdd.collect()) == list(range(1, 51))
    assert sc._blocks.location(("rdd", rdd.id(), 0)) != victim


def test_unpersisted_blocks_are_dropped_by_their_worker(sc):
    rdd = sc.parallelize(range(10), 2).cache()
    rdd.count()
    where = sc._blocks.location(("rdd", rdd.id(), 0))
    rdd.unpersist()
    assert ("rdd", rdd.id(), 0) not in sc._blocks
    assert ("rdd", rdd.id(), 0) in sc._blocks._drops.get(where, [])
    sc._executor.fetch({where: []})  # the next message to that worker carries the drop
    assert ("rdd", rdd.id(), 0) not in sc._blocks._drops.get(where, [])


def test_a_stage_with_nothing_to_read_runs_in_the_driver(sc):
    """An empty batch costs no round trip: with the workers frozen (SIGSTOP),
    a job over empty input still completes, because it ran in the driver."""
    if sc._dag.inline is None:
        pytest.skip("driver and workers hash strings differently (PYTHONHASHSEED not set)")
    from operator import add
    empty = sc.parallelize([], 2).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add)
    for pid in sc._executor.worker_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert empty.collect() == []
        assert sc.parallelize([], 3).count() == 0
    finally:
        for pid in sc._executor.worker_pids:
            os.kill(pid, signal.SIGCONT)
    assert sorted(sc.parallelize(["a b", "a"], 2).flatMap(str.split).map(lambda w: (w, 1))
                  .reduceByKey(add).collect()) == [("a", 2), ("b", 1)]


# ----------------------------------------- checkpoints written by the workers
def _checkpointed_pairs(sc, directory):
    sc.setCheckpointDir(str(directory))
    rdd = sc.parallelize([(i % 5, i) for i in range(40)], 2).partitionBy(2).mapValues(lambda v: v * 10)
    rdd.checkpoint()
    return rdd


def test_worker_writes_the_checkpoint_of_a_block_it_keeps_and_keeps_it(sc, tmp_path):
    """A local checkpoint directory: each part is written by the worker
    keeping the block, which goes on keeping it (no copy in the driver)."""
    rdd = _checkpointed_pairs(sc, tmp_path)
    expected = sorted(rdd.collect())
    path = rdd.getCheckpointFile()
    assert rdd.isCheckpointed() and sorted(os.listdir(path)) == ["_meta", "part-00000", "part-00001"]
    for s in range(2):
        bid = ("rdd", rdd.id(), s)
        assert sc._blocks.location(bid) is not None and sc._blocks.get(bid) is None
        with open(os.path.join(path, f"part-0000{s}"), "rb") as f:
            assert sorted(pickle.loads(f.read())) == sorted(rdd.glom().collect()[s])
    assert sorted(sc._checkpointFile(path).collect()) == expected


def test_checkpointed_block_of_a_killed_worker_is_read_back_from_its_file(sc, tmp_path):
    evaluated = sc.accumulator(0)

    def times_ten(v):
        evaluated.add(1)
        return v * 10
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize([(i % 5, i) for i in range(40)], 2).partitionBy(2).mapValues(times_ten)
    rdd.checkpoint()
    expected = sorted(rdd.collect())
    assert evaluated.value == 40
    victim = sc._blocks.location(("rdd", rdd.id(), 0))
    os.kill(sc._executor.worker_pids[victim[0]], signal.SIGKILL)
    assert sorted(rdd.collect()) == expected
    assert evaluated.value == 40  # from the file: the lineage is cut, nothing was recomputed
    assert sc._blocks.get(("rdd", rdd.id(), 0)) is not None


def test_memory_checkpoint_is_still_written_by_the_driver(sc):
    """A worker process cannot reach the driver's ``memory://`` filesystem."""
    import uuid

    from fluvial.core import fsio
    url = f"memory://fluvial-test-{uuid.uuid4().hex}"
    try:
        rdd = _checkpointed_pairs(sc, url)
        rdd.count()
        path = rdd.getCheckpointFile()
        assert fsio.list_names(path) == ["_meta", "part-00000", "part-00001"]
        assert all(sc._blocks.get(("rdd", rdd.id(), s)) is not None for s in range(2))
    finally:
        fsio.remove(url, recursive=True)


def test_failed_checkpoint_write_in_a_worker_names_the_file_and_leaves_no_meta(sc, tmp_path):
    rdd = _checkpointed_pairs(sc, tmp_path)
    path = os.path.join(sc.getCheckpointDir(), f"rdd-{rdd.id()}")
    os.makedirs(os.path.join(path, "part-00001", "in-the-way"))  # a directory where the file goes
    with pytest.raises(OSError) as failed:
        rdd.count()
    assert "part-00001" in str(failed.value) + "".join(getattr(failed.value, "__notes__", []))
    assert not os.path.exists(os.path.join(path, "_meta"))
    assert not rdd.isCheckpointed()
