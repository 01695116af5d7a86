"""Actions against plain-Python references, on both executors."""
from __future__ import annotations

import heapq
import warnings
from collections import Counter
from functools import reduce
from operator import add

import pytest
from core_helpers import HYPO, ints, partitions
from hypothesis import given
from hypothesis import strategies as st

from fluvial.core import BoundedFloat


def sparse(sc, sizes):
    """An RDD whose partition i holds sizes[i] consecutive ints."""
    data = list(range(sum(sizes)))
    return sc.parallelize([], len(sizes)).mapPartitionsWithIndex(
        lambda i, _: data[sum(sizes[:i]):sum(sizes[:i + 1])]), data


@HYPO
@given(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=8), num=st.integers(0, 12))
def test_take_first_is_empty_skip_empty_partitions(sc, sizes, num):
    rdd, data = sparse(sc, sizes)
    assert rdd.take(num) == data[:num]
    assert rdd.isEmpty() == (not data)
    if data:
        assert rdd.first() == data[0]
    else:
        with pytest.raises(ValueError, match="empty"):
            rdd.first()


def test_take_scans_few_partitions(sc):
    seen = sc.accumulator(0)
    rdd = sc.parallelize(range(100), 10).map(lambda x: (seen.add(1), x)[1])
    assert rdd.take(3) == [0, 1, 2]
    assert seen.value == 3  # only the records taken from partition 0 were computed


def test_empty_rdd_actions(sc):
    e = sc.emptyRDD()
    assert e.getNumPartitions() == 0 and e.collect() == [] and e.count() == 0
    assert e.take(3) == [] and e.isEmpty() and e.takeOrdered(2) == [] and e.takeSample(True, 3) == []
    assert e.fold(0, add) == 0 and e.aggregate(1, add, add) == 1 and e.treeAggregate(5, add, add) == 5
    assert e.sum() == 0
    for action in (lambda: e.reduce(add), lambda: e.treeReduce(add), e.max, e.stats, e.countByValue,
                   lambda: e.top(1)):
        with pytest.raises(ValueError, match="empty"):
            action()
    blank = sc.parallelize([], 3)
    assert blank.countByValue() == {} and blank.top(2) == [] and blank.stats().count() == 0
    with pytest.raises(ValueError, match="empty"):
        blank.reduce(add)


@HYPO
@given(xs=ints, n=partitions)
def test_reductions_match_python(sc, xs, n):
    rdd = sc.parallelize(xs, n)
    assert rdd.collect() == xs and rdd.count() == len(xs)
    assert rdd.fold(0, add) == sum(xs)
    assert rdd.aggregate((0, 0), lambda acc, x: (acc[0] + x, acc[1] + 1),
                         lambda a, b: (a[0] + b[0], a[1] + b[1])) == (sum(xs), len(xs))
    assert rdd.countByValue() == Counter(xs)
    assert list(rdd.toLocalIterator()) == xs
    if xs:
        assert rdd.reduce(add) == sum(xs) and rdd.treeReduce(add, 3) == sum(xs)
        assert rdd.max() == max(xs) and rdd.min() == min(xs)
        assert rdd.max(key=lambda x: -x) == min(xs)


@HYPO
@given(xs=ints, n=st.integers(1, 12), depth=st.integers(1, 4))
def test_tree_aggregate_equals_aggregate(sc, xs, n, depth):
    rdd = sc.parallelize(xs, n)
    assert rdd.treeAggregate(0, add, add, depth) == sum(xs)
    assert rdd.treeAggregate([], lambda a, x: a + [x], lambda a, b: a + b, depth) == xs or \
        sorted(rdd.treeAggregate([], lambda a, x: a + [x], lambda a, b: a + b, depth)) == sorted(xs)


@pytest.mark.parametrize("depth", [0, -1])
def test_tree_depth_is_validated(sc, depth):
    rdd = sc.parallelize([1, 2])
    with pytest.raises(ValueError, match=f"Depth cannot be smaller than 1 but got {depth}"):
        rdd.treeAggregate(0, add, add, depth)
    with pytest.raises(ValueError, match=f"but got {depth}"):
        rdd.treeReduce(add, depth)


def test_fold_copies_zero_per_partition(sc):
    rdd = sc.parallelize([1, 2, 3, 4], 2)
    assert rdd.fold([], lambda acc, x: acc + (x if isinstance(x, list) else [x])) == [1, 2, 3, 4]


@HYPO
@given(xs=ints, n=partitions, num=st.integers(0, 10))
def test_top_and_take_ordered(sc, xs, n, num):
    rdd = sc.parallelize(xs, n)
    assert rdd.top(num) == heapq.nlargest(num, xs)
    assert rdd.takeOrdered(num) == sorted(xs)[:num]
    assert rdd.takeOrdered(num, key=lambda x: -x) == sorted(xs, reverse=True)[:num]
    assert rdd.top(num, key=abs) == heapq.nlargest(num, xs, key=abs)


def test_take_ordered_rejects_negative(sc):
    with pytest.raises(ValueError, match="-1"):
        sc.parallelize([1]).takeOrdered(-1)


def test_take_sample_semantics(sc):
    rdd = sc.parallelize(range(100), 4)
    s = rdd.takeSample(False, 10, seed=3)
    assert len(s) == 10 and len(set(s)) == 10 and set(s) <= set(range(100))
    assert s == rdd.takeSample(False, 10, seed=3)
    everything = rdd.takeSample(False, 500, seed=1)
    assert sorted(everything) == list(range(100)) and everything != list(range(100))
    with_rep = rdd.takeSample(True, 300, seed=5)
    assert len(with_rep) == 300 and set(with_rep) <= set(range(100))
    assert rdd.takeSample(True, 0) == [] and sc.parallelize([], 2).takeSample(False, 5) == []
    with pytest.raises(ValueError, match="-1"):
        rdd.takeSample(False, -1)


def test_foreach_and_foreach_partition_run_for_side_effects(sc):
    total = sc.accumulator(0)
    sc.parallelize(range(10), 3).foreach(lambda x: total.add(x))
    assert total.value == 45
    parts = sc.accumulator(0)

    def gen(it):
        parts.add(1)
        yield from it
    sc.parallelize(range(10), 3).foreachPartition(gen)
    assert parts.value == 3


def test_approximate_actions_return_exact_values(sc):
    rdd = sc.parallelize(range(1, 101), 4)
    assert rdd.countApprox(1000) == 100
    s = rdd.sumApprox(1000)
    assert isinstance(s, BoundedFloat) and s == 5050.0 and s.low == s.high == 5050.0 and s.confidence == 1.0
    assert rdd.meanApprox(1000) == 50.5


@pytest.mark.parametrize("n,sd,tolerance", [(20, 0.05, 0), (1000, 0.05, 0.05), (20000, 0.05, 0.1),
                                            (3000, 0.01, 0.03), (500, 0.001, 0)])
def test_count_approx_distinct_is_close(sc, n, sd, tolerance):
    got = sc.parallelize([i % n for i in range(2 * n)], 3).countApproxDistinct(sd)
    assert abs(got - n) <= max(1, tolerance * n)


def test_count_approx_distinct_validates_relative_sd(sc):
    with pytest.raises(ValueError, match="0.000017.*1e-06"):
        sc.parallelize([1]).countApproxDistinct(0.000001)


def test_run_job_flattens_results_of_chosen_partitions(sc):
    rdd = sc.parallelize(range(6), 3)
    assert sc.runJob(rdd, lambda it: [x * x for x in it]) == [0, 1, 4, 9, 16, 25]
    assert sc.runJob(rdd, lambda it: [sum(it)], [2, 0]) == [9, 1]
    with pytest.raises(ValueError, match="partitions: 3"):
        sc.runJob(rdd, list, [3])


def test_collect_with_job_group_warns_and_tags_the_job(sc):
    rdd = sc.parallelize([1, 2], 2)
    with pytest.warns(FutureWarning):
        assert rdd.collectWithJobGroup("g-collect", "desc") == [1, 2]
    tracker = sc.statusTracker()
    assert len(tracker.getJobIdsForGroup("g-collect")) == 1
    assert sc.getLocalProperty("spark.jobGroup.id") is None


def test_reduce_uses_function_across_partitions(sc):
    rdd = sc.parallelize(list("abcdef"), 3)
    assert rdd.reduce(add) == "abcdef"
    assert rdd.fold("", add) == "abcdef"
    assert reduce(add, rdd.collect()) == "abcdef"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rdd.count() == 6
