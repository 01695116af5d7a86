"""Every stateless DStream operation, batch by batch, against a plain-Python
reference, on both executors; plus the property that streaming a stateless
operator over batches gives what the same operator gives as one batch job
over the concatenated input."""
from __future__ import annotations

import operator
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluvial.core.shuffle import portable_hash
from fluvial.core.sources import slice_bounds
from fluvial.streaming import StorageLevel, StreamingContext
from fluvial.testing import ListSink, ManualClock, queue_source, run_stream

INTS = [[1, 2, 3, 4, 5], [], [6, 7, 7, 8], [9]]
PAIRS = [[("a", 1), ("b", 2), ("a", 3)], [("c", 1)], [], [("a", 5), ("c", 2), ("d", 0), ("a", 1)]]
OTHER = [[("a", "x"), ("c", "y")], [("c", "z"), ("c", "w")], [("e", "q")], [("d", "r"), ("a", "s")]]


def norm(v):
    """Grouped values (ResultIterable, tuples of them) to lists, in their order."""
    if isinstance(v, tuple):
        return tuple(norm(x) for x in v)
    if hasattr(v, "__iter__") and not isinstance(v, (str, bytes, list)):
        return list(v)
    return v


def normalized(batch):
    return sorted((norm(r) for r in batch), key=repr)


def slices(batch, sc, n=2):
    return [batch[lo:hi] for lo, hi in slice_bounds(batch, n, sc._batchSize)]


def grouped(pairs):
    g = defaultdict(list)
    for k, v in pairs:
        g[k].append(v)
    return g


def ref_join(a, b, left, right):
    ga, gb = grouped(a), grouped(b)
    out = []
    for k in set(ga) | set(gb):
        if k in ga and k in gb:
            out += [(k, (x, y)) for x in ga[k] for y in gb[k]]
        elif k in ga and left:
            out += [(k, (x, None)) for x in ga[k]]
        elif k in gb and right:
            out += [(k, (None, y)) for y in gb[k]]
    return out


# name -> (build(ints, pairs, other) -> DStream, reference(ints, pairs, other, sc) -> batch, exact order?)
CASES = {
    "map": (lambda i, p, o: i.map(lambda x: x * 10), lambda i, p, o, sc: [x * 10 for x in i], True),
    "flatMap": (lambda i, p, o: i.flatMap(lambda x: [x] * (x % 3)),
                lambda i, p, o, sc: [x for x in i for _ in range(x % 3)], True),
    "filter": (lambda i, p, o: i.filter(lambda x: x % 2), lambda i, p, o, sc: [x for x in i if x % 2], True),
    "mapPartitions": (lambda i, p, o: i.mapPartitions(lambda it: [sum(it)]),
                      lambda i, p, o, sc: [sum(s) for s in slices(i, sc)], True),
    "mapPartitionsWithIndex": (lambda i, p, o: i.mapPartitionsWithIndex(lambda k, it: [(k, list(it))]),
                               lambda i, p, o, sc: list(enumerate(slices(i, sc))), True),
    "glom": (lambda i, p, o: i.glom(), lambda i, p, o, sc: slices(i, sc), True),
    "mapValues": (lambda i, p, o: p.mapValues(lambda v: v + 1), lambda i, p, o, sc: [(k, v + 1) for k, v in p], True),
    "flatMapValues": (lambda i, p, o: p.flatMapValues(lambda v: range(v)),
                      lambda i, p, o, sc: [(k, x) for k, v in p for x in range(v)], True),
    "repartition": (lambda i, p, o: i.repartition(3).glom().map(len).count(),
                    lambda i, p, o, sc: [3], True),
    "repartition_records": (lambda i, p, o: i.repartition(3), lambda i, p, o, sc: i, False),
    "partitionBy": (lambda i, p, o: p.partitionBy(2).glom(),
                    lambda i, p, o, sc: [[kv for kv in p if portable_hash(kv[0]) % 2 == n] for n in range(2)], True),
    "count": (lambda i, p, o: i.count(), lambda i, p, o, sc: [len(i)], True),
    "reduce": (lambda i, p, o: i.reduce(operator.add), lambda i, p, o, sc: [sum(i)] if i else [], True),
    "countByValue": (lambda i, p, o: i.countByValue(), lambda i, p, o, sc: list(Counter(i).items()), False),
    "reduceByKey": (lambda i, p, o: p.reduceByKey(operator.add),
                    lambda i, p, o, sc: [(k, sum(v)) for k, v in grouped(p).items()], False),
    "combineByKey": (lambda i, p, o: p.combineByKey(lambda v: (v, 1), lambda c, v: (c[0] + v, c[1] + 1),
                                                     lambda c, d: (c[0] + d[0], c[1] + d[1]), 3),
                     lambda i, p, o, sc: [(k, (sum(v), len(v))) for k, v in grouped(p).items()], False),
    "groupByKey": (lambda i, p, o: p.groupByKey(), lambda i, p, o, sc: list(grouped(p).items()), False),
    "union": (lambda i, p, o: p.union(o), lambda i, p, o, sc: p + o, True),
    "cogroup": (lambda i, p, o: p.cogroup(o),
                lambda i, p, o, sc: [(k, (grouped(p)[k], grouped(o)[k])) for k in {k for k, _ in p + o}], False),
    "join": (lambda i, p, o: p.join(o), lambda i, p, o, sc: ref_join(p, o, False, False), False),
    "leftOuterJoin": (lambda i, p, o: p.leftOuterJoin(o), lambda i, p, o, sc: ref_join(p, o, True, False), False),
    "rightOuterJoin": (lambda i, p, o: p.rightOuterJoin(o), lambda i, p, o, sc: ref_join(p, o, False, True), False),
    "fullOuterJoin": (lambda i, p, o: p.fullOuterJoin(o), lambda i, p, o, sc: ref_join(p, o, True, True), False),
    "transform_rdd": (lambda i, p, o: i.transform(lambda rdd: rdd.map(lambda x: -x)),
                      lambda i, p, o, sc: [-x for x in i], True),
    "transform_time_rdd": (lambda i, p, o: i.transform(lambda t, rdd: rdd.map(lambda x, s=t.second: (s, x))),
                           None, True),
    "transformWith_2": (lambda i, p, o: p.transformWith(lambda a, b: a.subtractByKey(b), o),
                        lambda i, p, o, sc: [kv for kv in p if kv[0] not in grouped(o)], False),
    "transformWith_3": (lambda i, p, o: p.transformWith(lambda t, a, b: a.keys().union(b.keys()), o),
                        lambda i, p, o, sc: [k for k, _ in p] + [k for k, _ in o], True),
    "ssc_union": (lambda i, p, o: i.context().union(p.map(lambda kv: kv[0]), o.map(lambda kv: kv[0]), i),
                  lambda i, p, o, sc: [k for k, _ in p] + [k for k, _ in o] + i, True),
    "ssc_transform": (lambda i, p, o: i.context().transform(
                          [i, p], lambda rdds: rdds[0].union(rdds[1].values()) if isinstance(rdds, tuple) else None),
                      lambda i, p, o, sc: i + [v for _, v in p], True),
}


def run_case(sc, name):
    build, _, _ = CASES[name]
    return run_stream(sc, [INTS, PAIRS, OTHER], build, numSlices=2)


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][1] is not None])
def test_operation_matches_python_reference(sc, name):
    _, reference, exact = CASES[name]
    got = run_case(sc, name)
    want = [reference(i, p, o, sc) for i, p, o in zip(INTS, PAIRS, OTHER)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if exact:
            assert [norm(r) for r in g] == [norm(r) for r in w]
        else:
            assert normalized(g) == normalized(w)


def test_transform_with_time_gets_the_batch_datetime(sc):
    got = run_case(sc, "transform_time_rdd")
    assert got == [[(n, x) for x in b] for n, b in zip(range(1, 5), INTS)]


def test_transform_returning_none_skips_the_batch(sc):
    got = run_stream(sc, [INTS], lambda s: s.transform(lambda t, rdd: None if t.second % 2 else rdd).map(str))
    assert got == [[], ["9"]]


def test_fused_transforms_skip_a_stage_and_cached_ones_do_not(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    try:
        src = queue_source(ssc, INTS[:1])
        a = src.map(lambda x: x + 1)
        b = a.map(lambda x: x * 2)
        assert b.prev is src                      # fused, as in PySpark
        c = a.cache()
        assert c is a and a.is_cached
        d = a.filter(lambda x: x > 3)
        assert d.prev is a                        # not fused across cache
        e = src.map(str).persist(StorageLevel.MEMORY_AND_DISK)
        f = e.checkpoint(1)
        assert f is e and e.is_checkpointed
        sinks = [ListSink(x) for x in (b, d)]
        ssc.start()
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [s.batches for s in sinks] == [[[4, 6, 8, 10, 12]], [[4, 5, 6]]]


def test_cached_stream_rdds_are_persisted_and_unpersisted_when_forgotten(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    seen = []
    try:
        cached = queue_source(ssc, INTS).map(lambda x: x).cache()
        cached.foreachRDD(lambda rdd: seen.append((rdd, rdd.is_cached)))
        ssc.start()
        clock.advance(4)
    finally:
        ssc.stop(stopSparkContext=False)
    assert [flag for _, flag in seen] == [True] * 4
    assert [rdd.is_cached for rdd, _ in seen[:2]] == [False, False]    # forgotten after one batch


def test_slice_returns_the_remembered_rdds_between_two_times(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    ssc.remember(10)
    try:
        s = queue_source(ssc, INTS, 2).map(lambda x: x)
        ListSink(s)
        with pytest.raises(RuntimeError, match="has not been initialized"):
            s.slice(0, 3)
        ssc.start()
        clock.advance(4)
        assert [r.collect() for r in s.slice(2, 3)] == [INTS[1], INTS[2]]
        assert [r.collect() for r in s.slice(1.5, 3.9)] == [INTS[0], INTS[1], INTS[2]]   # aligned down
        assert s.slice(0, 0.5) == []
        from datetime import datetime
        assert [r.collect() for r in s.slice(datetime.fromtimestamp(4), datetime.fromtimestamp(4))] == [INTS[3]]
    finally:
        ssc.stop(stopSparkContext=False)


def test_context_returns_the_streaming_context(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        assert queue_source(ssc, []).map(str).context() is ssc
    finally:
        ssc.stop(stopSparkContext=False)


# --------------------------------------------------------------- properties
# name -> (dstream op, RDD op, merge of per-batch results into one comparable value)
def _merge_by_key(func):
    def merge(batches):
        out = {}
        for b in batches:
            for k, v in b:
                out[k] = func(out[k], v) if k in out else v
        return sorted(out.items())
    return merge


def _concat_sorted(batches):
    return sorted((norm(r) for b in batches for r in b), key=repr)


UNARY = {
    "map": (lambda s: s.map(lambda kv: (kv[1], kv[0])), lambda r: r.map(lambda kv: (kv[1], kv[0])), _concat_sorted),
    "flatMap": (lambda s: s.flatMap(lambda kv: [kv[0]] * (kv[1] % 3)),
                lambda r: r.flatMap(lambda kv: [kv[0]] * (kv[1] % 3)), _concat_sorted),
    "filter": (lambda s: s.filter(lambda kv: kv[1] > 2), lambda r: r.filter(lambda kv: kv[1] > 2), _concat_sorted),
    "mapPartitions": (lambda s: s.mapPartitions(lambda it: (kv[1] for kv in it)),
                      lambda r: r.mapPartitions(lambda it: (kv[1] for kv in it)), _concat_sorted),
    "mapPartitionsWithIndex": (lambda s: s.mapPartitionsWithIndex(lambda i, it: (kv[0] for kv in it)),
                               lambda r: r.mapPartitionsWithIndex(lambda i, it: (kv[0] for kv in it)), _concat_sorted),
    "glom": (lambda s: s.glom().flatMap(lambda x: x), lambda r: r, _concat_sorted),
    "mapValues": (lambda s: s.mapValues(str), lambda r: r.mapValues(str), _concat_sorted),
    "flatMapValues": (lambda s: s.flatMapValues(range), lambda r: r.flatMapValues(range), _concat_sorted),
    "repartition": (lambda s: s.repartition(3), lambda r: r.repartition(3), _concat_sorted),
    "partitionBy": (lambda s: s.partitionBy(3), lambda r: r.partitionBy(3), _concat_sorted),
    "transform": (lambda s: s.transform(lambda r: r.distinct()), lambda r: r, None),
    "count": (lambda s: s.count(), lambda r: r.context.parallelize([r.count()]), lambda bs: [sum(x for b in bs for x in b)]),
    "reduce": (lambda s: s.map(lambda kv: kv[1]).reduce(max), lambda r: r.map(lambda kv: kv[1]).reduce(max),
               lambda bs: max(x for b in bs for x in b)),
    "countByValue": (lambda s: s.countByValue(), lambda r: r.map(lambda x: (x, 1)).reduceByKey(operator.add),
                     _merge_by_key(operator.add)),
    "reduceByKey": (lambda s: s.reduceByKey(operator.add), lambda r: r.reduceByKey(operator.add),
                    _merge_by_key(operator.add)),
    "combineByKey": (lambda s: s.combineByKey(lambda v: [v], lambda c, v: c + [v], operator.add),
                     lambda r: r.groupByKey().mapValues(list), None),
    "groupByKey": (lambda s: s.groupByKey().mapValues(list), lambda r: r.groupByKey().mapValues(list), None),
}

pairs = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 6)), max_size=8)


def tagged(streams):
    """One stream carrying every stream's records as ``(index, record)``, so
    that a batch of many operators costs one job."""
    first = streams[0].map(lambda r: (0, r))
    rest = [s.map(lambda r, i=i: (i, r)) for i, s in enumerate(streams) if i]
    return first.context().union(first, *rest)


def untagged(batches, n):
    return [[[r for i, r in batch if i == k] for batch in batches] for k in range(n)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(pairs, min_size=1, max_size=4))
def test_streaming_equals_one_batch_job_over_the_concatenated_input(sc, batches):
    names = list(UNARY)
    out = run_stream(sc, [batches], lambda s: tagged([UNARY[n][0](s) for n in names]), numSlices=2)
    outputs = untagged(out, len(names))
    everything = sc.parallelize([r for b in batches for r in b], 2)
    for name, got in zip(names, outputs):
        _, rdd_op, merge = UNARY[name]
        if name == "transform":        # distinct per batch, then union = distinct of each batch
            assert _concat_sorted(got) == _concat_sorted([sorted(set(b)) for b in batches]), name
            continue
        if merge is None:              # grouping: merge the per-batch groups key by key
            assert _merge_by_key(operator.add)(got) == sorted(rdd_op(everything).collect()), name
            continue
        if name == "reduce":
            nonempty = [b for b in got if b]
            if not nonempty:
                continue
            assert merge(nonempty) == rdd_op(everything), name
            continue
        assert merge(got) == merge([rdd_op(everything).collect()]), name


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(pairs, pairs), min_size=1, max_size=3))
def test_binary_operations_pair_the_two_streams_batch_by_batch(sc, batch_pairs):
    left = [a for a, _ in batch_pairs]
    right = [b for _, b in batch_pairs]
    ops = ["union", "join", "leftOuterJoin", "rightOuterJoin", "fullOuterJoin", "cogroup"]
    out = run_stream(sc, [left, right], lambda a, b: tagged([getattr(a, op)(b) for op in ops]), numSlices=2)
    outputs = untagged(out, len(ops))
    for op, got in zip(ops, outputs):
        for batch, (a, b) in zip(got, batch_pairs):
            want = CASES[op][1](None, a, b, sc)
            assert normalized(batch) == normalized(want), op



def test_checkpoint_interval_checkpoints_every_interval_and_persists(sc, tmp_path):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    ssc.checkpoint(str(tmp_path))
    seen = []

    def out(t, rdd):
        data = rdd.collect()
        seen.append((t.second, data, rdd.isCheckpointed(), rdd.is_cached))
    try:
        stream = queue_source(ssc, INTS, 2).map(lambda x: x * 2).checkpoint(2)
        stream.foreachRDD(out)
        ssc.start()
        clock.advance(4)
    finally:
        ssc.stop(stopSparkContext=False)
    assert seen == [(1, [2, 4, 6, 8, 10], False, True), (2, [], True, True),
                    (3, [12, 14, 14, 16], False, True), (4, [18], True, True)]


def test_persist_takes_a_storage_level(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        with pytest.raises(TypeError, match="persist: storageLevel must be a StorageLevel, got 'MEMORY_ONLY'"):
            queue_source(ssc, []).persist("MEMORY_ONLY")
    finally:
        ssc.stop(stopSparkContext=False)
