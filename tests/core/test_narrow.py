"""Narrow transformations against plain-Python references, on both executors."""
from __future__ import annotations

import itertools
import warnings

import pytest
from core_helpers import HYPO, ints, partitions
from hypothesis import given
from hypothesis import strategies as st


def slices(xs, n):
    return [xs[i * len(xs) // n:(i + 1) * len(xs) // n] for i in range(n)]


@HYPO
@given(xs=ints, n=partitions)
def test_map_filter_flat_map_match_python(sc, xs, n):
    rdd = sc.parallelize(xs, n)
    assert rdd.map(lambda x: x * 2).collect() == [x * 2 for x in xs]
    assert rdd.filter(lambda x: x % 3 == 0).collect() == [x for x in xs if x % 3 == 0]
    assert rdd.flatMap(lambda x: [x] * (x % 3)).collect() == [y for x in xs for y in [x] * (x % 3)]
    assert rdd.map(str).map(len).filter(bool).count() == len(xs)


@HYPO
@given(xs=ints, n=partitions)
def test_map_partitions_family_sees_each_partition_once(sc, xs, n):
    rdd = sc.parallelize(xs, n)
    parts = rdd.glom().collect()
    assert len(parts) == n and [x for p in parts for x in p] == xs
    assert rdd.mapPartitions(lambda it: [sum(it)]).collect() == [sum(p) for p in parts]
    assert rdd.mapPartitionsWithIndex(lambda i, it: [(i, len(list(it)))]).collect() == \
        [(i, len(p)) for i, p in enumerate(parts)]
    with pytest.warns(FutureWarning):
        by_split = rdd.mapPartitionsWithSplit(lambda i, it: [i])
    assert by_split.collect() == list(range(n))


def test_parallelize_slices_like_pyspark(sc):
    # PySpark batches min(len // n, 1024) elements before slicing batches.
    assert sc.parallelize(list(range(10)), 4).glom().collect() == [[0, 1], [2, 3], [4, 5], [6, 7, 8, 9]]
    assert sc.parallelize(list(range(5)), 2).glom().collect() == [[0, 1], [2, 3, 4]]
    assert sc.parallelize(range(10), 4).glom().collect() == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert sc.parallelize([], 3).glom().collect() == [[], [], []]
    assert sc.parallelize(iter("abc"), 2).collect() == ["a", "b", "c"]
    assert sc.range(5).collect() == [0, 1, 2, 3, 4]
    assert sc.range(2, 12, 3, numSlices=2).glom().collect() == [[2, 5], [8, 11]]


@pytest.mark.parametrize("bad", [0, -2, 1.5, "3"])
def test_parallelize_rejects_bad_num_slices(sc, bad):
    with pytest.raises(ValueError, match=f"numSlices.*{bad!r}"):
        sc.parallelize([1, 2], bad)


def test_stop_iteration_in_user_function_fails_the_task(sc):
    def bad(x):
        raise StopIteration
    with pytest.raises(RuntimeError, match="StopIteration"):
        sc.parallelize([1, 2, 3], 2).map(bad).collect()


@HYPO
@given(a=ints, b=ints, n=partitions, m=partitions)
def test_union_concatenates_in_order(sc, a, b, n, m):
    ra, rb = sc.parallelize(a, n), sc.parallelize(b, m)
    u = ra.union(rb)
    assert u.collect() == a + b and u.getNumPartitions() == n + m
    assert (ra + rb).collect() == a + b
    assert sc.union([ra, rb, ra]).collect() == a + b + a


def test_union_of_rdds_sharing_a_partitioner_keeps_it_even_for_one(sc):
    pairs = sc.parallelize([(i, i) for i in range(10)], 2).partitionBy(3)
    one = sc.union([pairs])
    assert one.partitioner == pairs.partitioner and one.getNumPartitions() == 3
    assert one.glom().collect() == pairs.glom().collect()
    assert sc.union([pairs, pairs]).partitioner == pairs.partitioner
    assert sc.union([sc.parallelize([(1, 1)], 3)]).partitioner is None


def test_add_rejects_non_rdd(sc):
    with pytest.raises(TypeError, match="list"):
        sc.parallelize([1]) + [2]


@HYPO
@given(xs=ints, n=st.integers(1, 6), target=st.integers(1, 8))
def test_coalesce_merges_adjacent_partitions_in_order(sc, xs, n, target):
    rdd = sc.parallelize(xs, n)
    c = rdd.coalesce(target)
    assert c.getNumPartitions() == min(n, target)
    assert c.collect() == xs
    parts = rdd.glom().collect()
    assert c.glom().collect() == [sum(g, []) for g in slices(parts, min(n, target))]


@HYPO
@given(xs=ints, n=partitions, target=st.integers(1, 7))
def test_repartition_keeps_every_record(sc, xs, n, target):
    r = sc.parallelize(xs, n).repartition(target)
    assert r.getNumPartitions() == target
    assert sorted(r.collect()) == sorted(xs)
    assert sorted(sc.parallelize(xs, n).coalesce(target, shuffle=True).collect()) == sorted(xs)


@pytest.mark.parametrize("bad", [0, -1, None])
def test_coalesce_and_repartition_validate_num_partitions(sc, bad):
    rdd = sc.parallelize([1])
    with pytest.raises(ValueError, match="numPartitions"):
        rdd.coalesce(bad)
    with pytest.raises(ValueError, match="numPartitions"):
        rdd.repartition(bad)


@HYPO
@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_zip_with_index_is_global_position(sc, sizes):
    data = list(range(sum(sizes)))
    rdd = sc.parallelize([], len(sizes)).mapPartitionsWithIndex(
        lambda i, _: data[sum(sizes[:i]):sum(sizes[:i + 1])])
    assert rdd.zipWithIndex().collect() == [(x, i) for i, x in enumerate(data)]
    ids = [i for _, i in rdd.zipWithUniqueId().collect()]
    assert len(set(ids)) == len(ids)
    n = len(sizes)
    assert rdd.zipWithUniqueId().glom().collect() == [
        [(x, j * n + k) for j, x in enumerate(data[sum(sizes[:k]):sum(sizes[:k + 1])])] for k in range(n)]


@HYPO
@given(xs=ints, n=partitions)
def test_zip_pairs_by_position(sc, xs, n):
    a = sc.parallelize(xs, n)
    assert a.zip(a.map(lambda x: -x)).collect() == [(x, -x) for x in xs]


def test_zip_errors_name_the_mismatch(sc):
    with pytest.raises(ValueError, match="2 vs 3"):
        sc.parallelize(range(6), 2).zip(sc.parallelize(range(6), 3))
    with pytest.raises(ValueError, match="same number of elements"):
        sc.parallelize(range(6), 2).zip(sc.parallelize(range(7), 2)).collect()


@HYPO
@given(a=st.lists(st.integers(), max_size=8), b=st.lists(st.text(max_size=2), max_size=8),
       n=st.integers(1, 3), m=st.integers(1, 3))
def test_cartesian_is_every_pair(sc, a, b, n, m):
    got = sc.parallelize(a, n).cartesian(sc.parallelize(b, m))
    assert got.getNumPartitions() == n * m
    assert sorted(got.collect()) == sorted(itertools.product(a, b))


def test_sample_is_seeded_and_close_to_fraction(sc):
    rdd = sc.parallelize(range(10000), 4)
    s = rdd.sample(False, 0.1, seed=42).collect()
    assert 800 < len(s) < 1200 and s == sorted(set(s))
    assert s == rdd.sample(False, 0.1, seed=42).collect()
    assert s != rdd.sample(False, 0.1, seed=43).collect()
    w = rdd.sample(True, 2.0, seed=1).count()
    assert 18000 < w < 22000
    assert rdd.sample(False, 0.0, 1).count() == 0 and rdd.sample(False, 1.0, 1).count() == 10000
    with pytest.raises(ValueError, match="fraction.*-0.1"):
        rdd.sample(False, -0.1)


def test_sample_matches_pyspark_generator_scheme():
    import random

    from fluvial.core.sampling import BernoulliOrPoissonSampler
    rng = random.Random(5 ^ 1)
    for _ in range(10):
        rng.randint(0, 1)
    expected = [x for x in range(50) if rng.random() < 0.3]
    assert list(BernoulliOrPoissonSampler(False, 0.3, 5).func(1, iter(range(50)))) == expected


def test_random_split_partitions_the_data(sc):
    rdd = sc.parallelize(range(1000), 3)
    parts = rdd.randomSplit([1, 2, 7], seed=11)
    got = [p.collect() for p in parts]
    assert sorted(x for g in got for x in g) == list(range(1000))
    assert 50 < len(got[0]) < 150 and 600 < len(got[2]) < 800
    assert got == [p.collect() for p in rdd.randomSplit([1, 2, 7], seed=11)]
    with pytest.raises(ValueError, match="nonnegative"):
        rdd.randomSplit([1, -1])
    with pytest.raises(ValueError, match="positive"):
        rdd.randomSplit([0, 0])


def test_pipe_streams_records_through_a_command(sc):
    rdd = sc.parallelize(["a", "b\n", "c"], 2)
    assert rdd.pipe("cat").collect() == ["a", "b", "c"]
    assert rdd.pipe("wc -l").map(str.strip).collect() == ["1", "2"]
    assert sc.parallelize(["x"], 1).pipe("sh -c 'echo $FOO'", env={"FOO": "bar"}).collect() == ["bar"]
    assert sc.parallelize([1], 1).pipe("false").collect() == []
    with pytest.raises(RuntimeError, match="error code 1"):
        sc.parallelize([1]).pipe("false", checkCode=True).collect()


def test_glom_and_key_by(sc):
    assert sc.parallelize([1, 2, 3], 2).glom().collect() == [[1], [2, 3]]
    assert sc.parallelize([], 2).glom().collect() == [[], []]
    assert sc.parallelize([1, 2], 1).keyBy(str).collect() == [("1", 1), ("2", 2)]


def test_rdd_identity_and_naming(sc):
    a, b = sc.parallelize([1]), sc.parallelize([2])
    assert isinstance(a.id(), int) and a.id() != b.id()
    assert a.context is sc and a.name() is None
    assert a.setName("nums") is a and a.name() == "nums"
    assert b"nums" in a.map(str).toDebugString() or b"ParallelCollectionRDD" in a.map(str).toDebugString()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a.map(str).collect()
