"""Numeric actions: sums, statistics and histograms (PySpark's edge cases)."""
from __future__ import annotations

import math
import statistics

import pytest
from core_helpers import HYPO, partitions
from hypothesis import given
from hypothesis import strategies as st

floats = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40)


@HYPO
@given(xs=floats, n=partitions)
def test_stats_match_statistics_module(sc, xs, n):
    st_ = sc.parallelize(xs, n).stats()
    assert st_.count() == len(xs)
    assert math.isclose(st_.mean(), statistics.fmean(xs), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(st_.variance(), statistics.pvariance(xs), rel_tol=1e-6, abs_tol=1e-3)
    assert math.isclose(st_.sampleStdev(), statistics.stdev(xs), rel_tol=1e-6, abs_tol=1e-3)
    assert st_.max() == max(xs) and st_.min() == min(xs)


def test_numeric_shortcuts(sc):
    rdd = sc.parallelize([1, 2, 3, 4], 3)
    assert rdd.sum() == 10 and rdd.mean() == 2.5
    assert rdd.variance() == 1.25 and rdd.sampleVariance() == pytest.approx(5 / 3)
    assert rdd.stdev() == pytest.approx(1.25 ** 0.5) and rdd.sampleStdev() == pytest.approx((5 / 3) ** 0.5)
    assert sc.parallelize([1.5, 2.5]).sum() == 4.0


def test_histogram_even_buckets_use_int_edges_when_exact(sc):
    rdd = sc.parallelize(range(51), 3)
    assert rdd.histogram(5) == ([0, 10, 20, 30, 40, 50], [10, 10, 10, 10, 11])
    edges, counts = sc.parallelize(range(11), 2).histogram(3)
    assert edges[1:3] == pytest.approx([10 / 3, 20 / 3]) and counts == [4, 3, 4]


def test_histogram_given_buckets(sc):
    rdd = sc.parallelize([0, 1, 5, 10, 11, -1, 5.5], 2)
    assert rdd.histogram([0, 5, 10]) == ([0, 5, 10], [2, 3])
    assert rdd.histogram((0, 2, 10)) == ((0, 2, 10), [2, 3])
    letters = sc.parallelize(["a", "b", "c", "x", "z"])
    assert letters.histogram(["a", "c", "y"]) == (["a", "c", "y"], [2, 2])


def test_histogram_ignores_none_and_nan(sc):
    rdd = sc.parallelize([1.0, None, float("nan"), 3.0, 2.0], 2)
    assert rdd.histogram(2) == ([1.0, 2.0, 3.0], [1, 2])
    assert rdd.histogram([0, 4]) == ([0, 4], [3])


def test_histogram_single_value_and_single_bucket(sc):
    assert sc.parallelize([7, 7, 7]).histogram(4) == ([7, 7], [3])
    assert sc.parallelize([1, 9, 5]).histogram(1) == ([1, 9], [3])


@pytest.mark.parametrize("buckets,error,match", [
    (0, ValueError, "number of buckets must be >= 1, got 0"),
    ([1], ValueError, "more than one value"),
    ([3, 1, 2], ValueError, "sorted"),
    ([1, 1, 2], ValueError, "duplicated"),
    ([1, None], ValueError, "None or NaN"),
    ([1, float("nan")], ValueError, "None or NaN"),
    ("abc", TypeError, "list or tuple or number"),
])
def test_histogram_rejects_bad_buckets(sc, buckets, error, match):
    with pytest.raises(error, match=match):
        sc.parallelize([1, 2, 3]).histogram(buckets)


def test_histogram_errors_on_empty_infinite_and_non_numbers(sc):
    with pytest.raises(ValueError, match="empty RDD"):
        sc.parallelize([None, float("nan")]).histogram(3)
    with pytest.raises(ValueError, match="infinite"):
        sc.parallelize([0.0, float("inf")]).histogram(2)
    with pytest.raises(TypeError, match="non-number"):
        sc.parallelize(["a", "b"]).histogram(2)


@HYPO
@given(xs=st.lists(st.integers(-1000, 1000), min_size=1, max_size=50), n=partitions, b=st.integers(1, 8))
def test_histogram_counts_every_record_once(sc, xs, n, b):
    edges, counts = sc.parallelize(xs, n).histogram(b)
    assert sum(counts) == len(xs)
    for i, c in enumerate(counts):
        last = i == len(counts) - 1
        assert c == sum(1 for x in xs if edges[i] <= x < edges[i + 1] or (last and x == edges[-1]))
