"""Key-value and shuffle operations against plain-Python references, for
random inputs and partition counts, on both executors."""
from __future__ import annotations

from collections import Counter, namedtuple
from operator import add

import pytest
from core_helpers import HYPO, as_multiset, group, ints, pairs, partitions
from hypothesis import given
from hypothesis import strategies as st

from fluvial import ResultIterable


@HYPO
@given(kvs=pairs, n=partitions, m=partitions)
def test_reduce_by_key_equals_python_sum_per_key(sc, kvs, n, m):
    got = dict(sc.parallelize(kvs, n).reduceByKey(add, m).collect())
    assert got == {k: sum(vs) for k, vs in group(kvs).items()}


def test_reduce_by_key_combines_map_side(sc):
    calls = sc.accumulator(0)

    def merge(a, b):
        calls.add(1)
        return a + b
    # 4 partitions of 25 records with one key each: map side leaves 4 values,
    # so the merge runs 24 times in the map tasks and 3 times in the reduce task.
    rdd = sc.parallelize([("k", 1)] * 100, 4).reduceByKey(merge, 1)
    assert rdd.collect() == [("k", 100)]
    assert calls.value == 4 * 24 + 3


@HYPO
@given(kvs=pairs, n=partitions, m=partitions)
def test_group_by_key_keeps_arrival_order_of_values(sc, kvs, n, m):
    got = sc.parallelize(kvs, n).groupByKey(m).collect()
    assert all(isinstance(v, ResultIterable) for _, v in got)
    assert {k: list(v) for k, v in got} == group(kvs)
    assert len(got) == len(group(kvs))


@HYPO
@given(kvs=pairs, n=partitions)
def test_combine_aggregate_fold_by_key_match_python(sc, kvs, n):
    rdd = sc.parallelize(kvs, n)
    expected = group(kvs)
    assert dict(rdd.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b).collect()) == expected
    assert dict(rdd.aggregateByKey([], lambda c, v: c + [v], lambda a, b: a + b, 3).collect()) == expected
    assert dict(rdd.foldByKey(0, add).collect()) == {k: sum(v) for k, v in expected.items()}


def test_aggregate_by_key_copies_mutable_zero_per_key(sc):
    rdd = sc.parallelize([(1, "a"), (2, "b"), (1, "c")], 1)
    got = dict(rdd.aggregateByKey([], lambda acc, v: acc.append(v) or acc, lambda a, b: a + b).collect())
    assert got == {1: ["a", "c"], 2: ["b"]}


@HYPO
@given(xs=ints, n=partitions, m=partitions)
def test_distinct_equals_python_set(sc, xs, n, m):
    got = sc.parallelize(xs, n).distinct(m).collect()
    assert sorted(got) == sorted(set(xs))


@HYPO
@given(a=ints, b=ints, n=partitions)
def test_subtract_and_intersection_match_python(sc, a, b, n):
    ra, rb = sc.parallelize(a, n), sc.parallelize(b, 2)
    assert sorted(ra.subtract(rb).collect()) == sorted(x for x in a if x not in set(b))
    assert sorted(ra.intersection(rb).collect()) == sorted(set(a) & set(b))


@HYPO
@given(kvs=st.lists(st.tuples(st.integers(-20, 20), st.integers()), max_size=40), n=partitions,
       m=partitions, ascending=st.booleans())
def test_sort_by_key_is_a_stable_total_order(sc, kvs, n, m, ascending):
    got = sc.parallelize(kvs, n).sortByKey(ascending, m).collect()
    assert got == sorted(kvs, key=lambda kv: kv[0], reverse=not ascending)


def test_sort_by_key_descending_orders_partitions_too(sc):
    rdd = sc.parallelize([(i % 17, i) for i in range(200)], 4).sortByKey(False, 3)
    parts = rdd.glom().collect()
    assert len(parts) == 3 and all(parts)
    keys = [k for p in parts for k, _ in p]
    assert keys == sorted(keys, reverse=True)


def test_sort_by_key_with_keyfunc_and_sort_by(sc):
    words = ["b", "A", "c", "a", "B"]
    rdd = sc.parallelize([(w, i) for i, w in enumerate(words)], 2)
    assert rdd.sortByKey(True, 2, keyfunc=str.lower).keys().collect() == ["A", "a", "b", "B", "c"]
    assert sc.parallelize(range(10), 3).sortBy(lambda x: -x).collect() == list(range(9, -1, -1))


def test_sort_by_key_on_empty_rdd(sc):
    assert sc.parallelize([], 3).sortByKey().collect() == []


@HYPO
@given(kvs=pairs, n=partitions, m=partitions)
def test_partition_by_puts_keys_by_portable_hash(sc, kvs, n, m):
    from fluvial.core import portable_hash
    parts = sc.parallelize(kvs, n).partitionBy(m).glom().collect()
    assert len(parts) == m
    for i, part in enumerate(parts):
        assert all(portable_hash(k) % m == i for k, _ in part)
    assert as_multiset([kv for p in parts for kv in p]) == as_multiset(kvs)


def test_partition_by_same_partitioner_does_not_shuffle(sc):
    rdd = sc.parallelize([(i, i) for i in range(10)], 3).partitionBy(4)
    assert rdd.partitionBy(4) is rdd
    assert rdd.mapValues(str).partitionBy(4).partitioner == rdd.partitioner
    joined = rdd.join(rdd.mapValues(str))
    assert joined.getNumPartitions() == 4
    assert sorted(joined.collect()) == [(i, (i, str(i))) for i in range(10)]


def _joins(a, b):
    ga, gb = group(a), group(b)
    inner = [(k, (v, w)) for k in ga if k in gb for v in ga[k] for w in gb[k]]
    left = inner + [(k, (v, None)) for k in ga if k not in gb for v in ga[k]]
    right = inner + [(k, (None, w)) for k in gb if k not in ga for w in gb[k]]
    full = left + [(k, (None, w)) for k in gb if k not in ga for w in gb[k]]
    return inner, left, right, full


@HYPO
@given(a=pairs, b=pairs, n=partitions, m=partitions)
def test_join_family_matches_python(sc, a, b, n, m):
    ra, rb = sc.parallelize(a, n), sc.parallelize(b, m)
    inner, left, right, full = _joins(a, b)
    assert as_multiset(ra.join(rb).collect()) == as_multiset(inner)
    assert as_multiset(ra.leftOuterJoin(rb, 2).collect()) == as_multiset(left)
    assert as_multiset(ra.rightOuterJoin(rb).collect()) == as_multiset(right)
    assert as_multiset(ra.fullOuterJoin(rb, 3).collect()) == as_multiset(full)


@HYPO
@given(a=pairs, b=pairs, c=pairs, n=partitions)
def test_cogroup_and_group_with_match_python(sc, a, b, c, n):
    ra, rb, rc = sc.parallelize(a, n), sc.parallelize(b, 2), sc.parallelize(c, 1)
    ga, gb, gc = group(a), group(b), group(c)
    got = {k: tuple(list(x) for x in vs) for k, vs in ra.cogroup(rb, n).collect()}
    assert got == {k: (ga.get(k, []), gb.get(k, [])) for k in set(ga) | set(gb)}
    got3 = {k: tuple(list(x) for x in vs) for k, vs in ra.groupWith(rb, rc).collect()}
    assert got3 == {k: (ga.get(k, []), gb.get(k, []), gc.get(k, [])) for k in set(ga) | set(gb) | set(gc)}


@HYPO
@given(a=pairs, b=pairs, n=partitions)
def test_subtract_by_key_matches_python(sc, a, b, n):
    keys_b = {k for k, _ in b}
    got = sc.parallelize(a, n).subtractByKey(sc.parallelize(b, 2)).collect()
    assert as_multiset(got) == as_multiset([kv for kv in a if kv[0] not in keys_b])


def test_key_value_helpers(sc):
    kvs = [("a", 1), ("b", 2), ("a", 3)]
    rdd = sc.parallelize(kvs, 2)
    assert rdd.keys().collect() == ["a", "b", "a"]
    assert rdd.values().collect() == [1, 2, 3]
    assert rdd.mapValues(lambda v: v * 10).collect() == [("a", 10), ("b", 20), ("a", 30)]
    assert rdd.flatMapValues(lambda v: range(v)).collect() == [("a", 0), ("b", 0), ("b", 1),
                                                                ("a", 0), ("a", 1), ("a", 2)]
    assert rdd.countByKey() == {"a": 2, "b": 1}
    assert rdd.collectAsMap() == {"a": 3, "b": 2}
    assert rdd.reduceByKeyLocally(add) == {"a": 4, "b": 2}
    assert rdd.keyBy(lambda kv: kv[1]).collect() == [(1, ("a", 1)), (2, ("b", 2)), (3, ("a", 3))]
    got = {k: sorted(v) for k, v in sc.parallelize(range(10), 3).groupBy(lambda x: x % 3).collect()}
    assert got == {0: [0, 3, 6, 9], 1: [1, 4, 7], 2: [2, 5, 8]}


def test_map_values_keeps_partitioner_map_drops_it(sc):
    rdd = sc.parallelize([(i, i) for i in range(6)], 2).partitionBy(3)
    assert rdd.mapValues(str).partitioner == rdd.partitioner
    assert rdd.filter(lambda kv: True).partitioner == rdd.partitioner
    assert rdd.map(lambda kv: kv).partitioner is None


def test_lookup_reads_only_the_key_partition_when_partitioned(sc):
    rdd = sc.parallelize([(i % 5, i) for i in range(50)], 4)
    assert sorted(rdd.lookup(3)) == [i for i in range(50) if i % 5 == 3]
    assert rdd.lookup(99) == []
    parted = rdd.partitionBy(5).cache()
    parted.count()
    seen = sc.accumulator(0)
    probe = parted.map(lambda kv: (seen.add(1), kv)[1], preservesPartitioning=True)
    assert sorted(probe.lookup(2)) == [i for i in range(50) if i % 5 == 2]
    assert seen.value == len(parted.glom().collect()[2])


Point = namedtuple("Point", "x y")


def test_namedtuple_keys_land_where_the_partitioner_says(sc):
    # portable_hash hashes every tuple, namedtuples included, element-wise; the
    # shuffle must agree with it, or lookup() reads the wrong partition
    kvs = [(Point(f"p{i}", i), i) for i in range(60)]
    parted = sc.parallelize(kvs, 3).partitionBy(4)
    for index, part in enumerate(parted.glom().collect()):
        assert all(parted.partitioner(k) == index for k, _ in part)
    assert all(parted.lookup(k) == [v] for k, v in kvs)


def test_repartition_and_sort_within_partitions(sc):
    kvs = [(i * 7 % 10, i) for i in range(30)]
    parts = sc.parallelize(kvs, 3).repartitionAndSortWithinPartitions(2, lambda k: k % 2, False).glom().collect()
    assert [sorted({k % 2 for k, _ in p}) for p in parts] == [[0], [1]]
    for p in parts:
        assert [k for k, _ in p] == sorted((k for k, _ in p), reverse=True)
    assert as_multiset([kv for p in parts for kv in p]) == as_multiset(kvs)


def test_sample_by_key_respects_fractions_and_seed(sc):
    kvs = [(i % 2, i) for i in range(2000)]
    rdd = sc.parallelize(kvs, 4)
    got = rdd.sampleByKey(False, {0: 0.1, 1: 0.9}, seed=7).collect()
    counts = Counter(k for k, _ in got)
    assert 50 < counts[0] < 150 and 800 < counts[1] < 990
    assert got == rdd.sampleByKey(False, {0: 0.1, 1: 0.9}, seed=7).collect()
    with pytest.raises(ValueError, match="-0.5"):
        rdd.sampleByKey(False, {0: -0.5, 1: 0.1})


def test_num_partitions_is_validated(sc):
    rdd = sc.parallelize([(1, 2)])
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="numPartitions"):
            rdd.reduceByKey(add, bad)
    with pytest.raises(ValueError, match="numPartitions"):
        rdd.groupByKey(0)


def test_default_reduce_partitions_follow_parent_or_conf(sc):
    assert sc.parallelize([(1, 1)], 5).reduceByKey(add).getNumPartitions() == 5


def test_second_action_on_a_shuffle_sees_unmutated_map_output(sc):
    # merge functions mutate their first argument; map output must not be aliased
    grouped = sc.parallelize([(i % 2, i) for i in range(12)], 3).groupByKey(1).mapValues(list)
    first = grouped.collect()
    assert grouped.collect() == first
    assert sorted(len(v) for _, v in grouped.collect()) == [6, 6]
    appended = sc.parallelize([("k", [i]) for i in range(4)], 2).reduceByKey(lambda a, b: a.extend(b) or a)
    assert appended.collect() == appended.collect() == [("k", [0, 1, 2, 3])]


def test_buckets_of_atoms_and_of_shared_objects_round_trip_exactly():
    from fluvial.core.shuffle import read_bucket, serialize_bucket
    line = "a shared line"
    atoms = [line, line, b"raw", 7, 2.5, True, None, "é"]
    back = read_bucket(serialize_bucket(atoms))
    assert back == atoms and [type(x) for x in back] == [type(x) for x in atoms]
    shared = [1]
    aliased = read_bucket(serialize_bucket(["first", shared, shared]))
    assert aliased == ["first", [1], [1]] and aliased[1] is aliased[2]  # the memo keeps sharing


def test_parallelized_records_do_not_see_later_changes_to_the_collection(sc):
    rows = [[1], [2], [3], [4]]
    rdd = sc.parallelize(rows, 2)
    rows[0].append(99)
    rows.append([5])
    assert rdd.collect() == [[1], [2], [3], [4]]
