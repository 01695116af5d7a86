"""persist/cache, checkpoint and localCheckpoint, shuffle reuse, on both executors."""
from __future__ import annotations

import contextlib
import gc
import os
from operator import add

import cloudpickle
import pytest

from fluvial import StorageLevel


def counted(sc, data, n=3):
    calls = sc.accumulator(0)
    return sc.parallelize(data, n).map(lambda x: (calls.add(1), x)[1]), calls


def test_cache_avoids_recomputation_across_jobs(sc):
    rdd, calls = counted(sc, range(20))
    cached = rdd.map(lambda x: x * 2).cache()
    assert cached.is_cached and cached.getStorageLevel() == StorageLevel.MEMORY_ONLY
    assert cached.sum() == 380
    assert calls.value == 20
    assert cached.count() == 20 and cached.collect() == [x * 2 for x in range(20)]
    assert cached.map(lambda x: x + 1).filter(lambda x: x > 10).count() == 15
    assert calls.value == 20


def test_partially_computed_cache_fills_in_missing_partitions(sc):
    rdd, calls = counted(sc, range(30), 3)
    cached = rdd.persist(StorageLevel.MEMORY_AND_DISK)
    assert cached.take(2) == [0, 1]
    assert calls.value == 10  # partition 0 computed whole, to be stored
    assert cached.count() == 30 and calls.value == 30
    assert cached.count() == 30 and calls.value == 30


def test_unpersist_drops_blocks_and_recomputes(sc):
    rdd, calls = counted(sc, range(10), 2)
    rdd.cache().count()
    assert rdd.unpersist() is rdd and not rdd.is_cached
    rdd.count()
    assert calls.value == 20


@pytest.mark.timeout(30)
@pytest.mark.parametrize("inside_lock", [False, True], ids=["collected", "collected-inside-the-store-lock"])
def test_blocks_of_a_collected_cached_rdd_are_removed_without_deadlock(sc, inside_lock):
    # The cyclic collector runs finalizers in whatever thread it interrupts;
    # a job thread in the middle of a store call holds the store's lock.
    store = sc._blocks
    before = store.block_count()
    rdd = sc.parallelize(range(10), 2).cache()
    rdd.count()
    assert store.block_count() == before + 2
    rdd.self_reference = rdd          # only the cyclic collector frees it
    del rdd
    with store._lock if inside_lock else contextlib.nullcontext():
        gc.collect()
    assert store.block_count() == before


def test_persist_validates_and_keeps_level(sc):
    rdd = sc.parallelize([1])
    with pytest.raises(TypeError, match="StorageLevel"):
        rdd.persist("MEMORY_ONLY")
    rdd.persist(StorageLevel.DISK_ONLY)
    assert rdd.persist(StorageLevel.DISK_ONLY) is rdd
    with pytest.raises(ValueError, match="Cannot change storage level"):
        rdd.persist(StorageLevel.MEMORY_ONLY)
    assert sc.parallelize([1]).getStorageLevel() == StorageLevel(False, False, False, False, 1)


def test_shuffle_output_is_reused_by_later_jobs(sc):
    rdd, calls = counted(sc, [(i % 3, i) for i in range(30)], 3)
    reduced = rdd.reduceByKey(add)
    assert sorted(reduced.collect()) == [(0, 135), (1, 145), (2, 155)]
    assert reduced.count() == 3
    assert calls.value == 30
    reduced.cleanShuffleDependencies()
    assert reduced.count() == 3 and calls.value == 60


def test_cached_rdd_feeds_a_shuffle_without_recomputation(sc):
    rdd, calls = counted(sc, [(i % 4, 1) for i in range(40)], 4)
    rdd.cache()
    assert dict(rdd.reduceByKey(add).collect()) == {0: 10, 1: 10, 2: 10, 3: 10}
    assert dict(rdd.groupByKey().mapValues(len).collect()) == {0: 10, 1: 10, 2: 10, 3: 10}
    assert calls.value == 40


def test_checkpoint_writes_files_and_cuts_lineage(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    assert sc.getCheckpointDir().startswith(str(tmp_path))
    big = list(range(5000))
    rdd, calls = counted(sc, big, 3)
    derived = rdd.map(lambda x: (x % 7, x)).reduceByKey(add).mapValues(lambda v: v * 2)
    derived.checkpoint()
    assert not derived.isCheckpointed() and derived.getCheckpointFile() is None
    expected = sorted(derived.collect())
    assert derived.isCheckpointed() and not derived.isLocallyCheckpointed()
    path = derived.getCheckpointFile()
    assert sorted(os.listdir(path)) == ["_meta"] + [f"part-{i:05d}" for i in range(derived.getNumPartitions())]
    assert derived._deps == [] and derived.toDebugString().count(b"\n") == 0
    assert len(cloudpickle.dumps(derived)) < 20_000  # the 5000 parallelized ints are not in it
    seen = calls.value
    assert sorted(derived.collect()) == expected and sorted(derived.map(lambda kv: kv).collect()) == expected
    assert calls.value == seen


def test_checkpoint_file_is_read_when_block_is_gone(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize(range(10), 2).map(lambda x: x + 1)
    rdd.checkpoint()
    rdd.count()
    sc._blocks.remove_owner("rdd", rdd.id())
    assert rdd.collect() == list(range(1, 11))


def test_checkpoint_requires_a_directory(sc_no_checkpoint_dir):
    with pytest.raises(RuntimeError, match="setCheckpointDir"):
        sc_no_checkpoint_dir.parallelize([1]).checkpoint()


def test_local_checkpoint_cuts_lineage_without_files(sc):
    rdd, calls = counted(sc, range(12), 3)
    local = rdd.map(lambda x: -x)
    local.localCheckpoint()
    assert local.collect() == [-x for x in range(12)]
    assert local.isLocallyCheckpointed() and local.isCheckpointed() and local.getCheckpointFile() is None
    assert local._deps == []
    assert local.count() == 12 and local.map(abs).sum() == 66
    assert calls.value == 12


@pytest.fixture
def sc_no_checkpoint_dir(sc):
    saved = sc._checkpoint_dir
    sc._checkpoint_dir = None
    yield sc
    sc._checkpoint_dir = saved


# ------------------------------------------ a combine's dict kept as the block
def test_cached_combine_of_atoms_is_read_back_equal_in_key_order(sc):
    pairs = [(f"k{i % 7}", (i, float(i))) for i in range(50)] + [((1, "t"), None)] * 2
    reduced = sc.parallelize(pairs, 3).reduceByKey(lambda a, b: b if a is None else a, 2).cache()
    first = reduced.glom().collect()
    assert reduced.glom().collect() == first
    assert dict(reduced.collect()) == {**{f"k{i}": (i, float(i)) for i in range(7)}, (1, "t"): None}


def test_cached_combine_with_mutable_values_gives_fresh_values_to_each_reader(sc):
    lists = sc.parallelize([("a", [1]), ("b", [2]), ("a", [3])], 2).reduceByKey(lambda x, y: x + y, 2).cache()
    assert sorted(lists.collect()) == [("a", [1, 3]), ("b", [2])]
    assert sorted(lists.map(lambda kv: kv[1].append(99) or kv).collect()) == [("a", [1, 3, 99]), ("b", [2, 99])]
    assert sorted(lists.collect()) == [("a", [1, 3]), ("b", [2])]


class _Tagged(str):
    """A str subclass with mutable state: not an atom."""


def test_values_of_a_subclass_of_an_atom_are_not_shared(sc):
    tagged = sc.parallelize([("a", _Tagged("x"))], 1).reduceByKey(lambda x, y: x, 1).cache()
    assert tagged.map(lambda kv: setattr(kv[1], "seen", True) or kv[1].seen).collect() == [True]
    assert tagged.map(lambda kv: hasattr(kv[1], "seen")).collect() == [False]


def test_a_table_block_is_checkpointed_as_a_list_of_records(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    counts = sc.parallelize(["a", "b", "a"], 2).map(lambda w: (w, 1)).reduceByKey(add, 2)
    counts.cache()
    counts.checkpoint()
    assert sorted(counts.collect()) == [("a", 2), ("b", 1)]
    reread = sc._checkpointFile(counts.getCheckpointFile())
    assert sorted(reread.collect()) == [("a", 2), ("b", 1)]
    assert reread.glom().collect() == counts.glom().collect()
