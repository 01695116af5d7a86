"""Windowed operations: window boundaries ``(t - window, t]``, slides, the
incremental (inverse-function) path of reduceByKeyAndWindow and the
operations built on it, against plain-Python references on both executors."""
from __future__ import annotations

import operator
import random
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluvial.streaming import StreamingContext
from fluvial.streaming.window import WindowStepRDD
from fluvial.streaming.checkpoint.metadata import parse
from fluvial.streaming.checkpoint.store import CheckpointStore
from fluvial.testing import ManualClock, queue_source, run_stream

INTS = [[1, 2], [3], [], [4, 5, 6], [7], [8, 9], [10]]
WORDS = [["a", "b", "a"], ["b"], [], ["c", "a"], ["a"], [], [], ["b", "b"], [], [], [], [], ["d"]]


@pytest.fixture(scope="module")
def cpdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("checkpoints"))


def in_window(batches, window, t):
    """Records of the batches at times in (t - window, t] (times 1..n)."""
    return [r for i in range(max(1, t - window + 1), t + 1) if i <= len(batches) for r in batches[i - 1]]


def valid_times(n, slide):
    return list(range(slide, n + 1, slide))


def sums(records):
    out = defaultdict(int)
    for k, v in records:
        out[k] += v
    return dict(out)


@pytest.mark.parametrize("window,slide", [(3, 1), (4, 2), (2, 2), (3, 3), (1, 1)])
def test_window_is_the_union_of_the_batches_in_the_last_window_seconds(sc, window, slide):
    got = run_stream(sc, [INTS], lambda s: s.window(window, slide))
    assert got == [in_window(INTS, window, t) for t in valid_times(len(INTS), slide)]


def test_window_default_slide_is_the_parent_slide(sc):
    got = run_stream(sc, [INTS], lambda s: s.window(2))
    assert got == [in_window(INTS, 2, t) for t in range(1, len(INTS) + 1)]


def test_window_of_a_window_slides_with_the_outer_slide(sc):
    got = run_stream(sc, [INTS], lambda s: s.window(2, 2).window(4, 2))
    assert got == [in_window(INTS, 4, t) for t in valid_times(len(INTS), 2)]


def test_window_with_a_sub_second_batch_duration(sc):
    got = run_stream(sc, [INTS], lambda s: s.window(1.0, 0.5), batchDuration=0.25, num_batches=len(INTS))
    assert got == [in_window(INTS, 4, t) for t in valid_times(len(INTS), 2)]


@pytest.mark.parametrize("op,args,message", [
    ("window", (1.5,), r"windowDuration must be multiple of the parent dstream's slide \(batch\) duration \(1000 ms\)"),
    ("window", (2, 0.5), r"slideDuration must be multiple of the parent dstream's slide \(batch\) duration \(1000 ms\)"),
    ("reduceByKeyAndWindow", (operator.add, None, 2.5, 1),
     r"windowDuration must be multiple of the parent dstream's slide \(batch\) duration \(1000 ms\)"),
    ("reduceByKeyAndWindow", (operator.add, operator.sub, 2, 1.5),
     r"slideDuration must be multiple of the parent dstream's slide \(batch\) duration \(1000 ms\)"),
    ("window", (0,), r"windowDuration must be positive"),
])
def test_window_and_slide_must_be_multiples_of_the_parent_slide(sc, op, args, message):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        with pytest.raises(ValueError, match=message):
            getattr(queue_source(ssc, []), op)(*args)
    finally:
        ssc.stop(stopSparkContext=False)


def test_window_of_a_windowed_stream_checks_against_its_slide(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        w = queue_source(ssc, []).window(4, 2)
        with pytest.raises(ValueError, match=r"windowDuration must be multiple .* \(2000 ms\)"):
            w.window(3, 2)
    finally:
        ssc.stop(stopSparkContext=False)


# ------------------------------------------------------- reduceByKeyAndWindow
PAIRS = [[(w, 1) for w in b] for b in WORDS]


def test_reduce_by_key_and_window_without_inverse_reduces_each_window(sc):
    got = run_stream(sc, [PAIRS], lambda s: s.reduceByKeyAndWindow(operator.add, None, 3, 1))
    assert [dict(b) for b in got] == [sums(in_window(PAIRS, 3, t)) for t in range(1, len(PAIRS) + 1)]


def test_inverse_with_a_short_window_recomputes_and_has_no_zero_keys(sc, cpdir):
    got = run_stream(sc, [PAIRS], lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 4, 1),
                     checkpoint=cpdir)
    assert [dict(b) for b in got] == [sums(in_window(PAIRS, 4, t)) for t in range(1, len(PAIRS) + 1)]


def incremental_reference(batches, window, slide, t):
    """What the incremental path holds: every key seen so far, 0 when absent."""
    seen = {k for b in batches[:t] for k, _ in b}
    current = sums(in_window(batches, window, t))
    return {k: current.get(k, 0) for k in seen}


def test_inverse_with_a_long_window_keeps_keys_that_went_back_to_zero(sc, cpdir):
    got = run_stream(sc, [PAIRS], lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1),
                     checkpoint=cpdir)
    want = [incremental_reference(PAIRS, 5, 1, t) for t in range(1, len(PAIRS) + 1)]
    assert [dict(b) for b in got] == want
    assert dict(got[-1]) == {"a": 0, "b": 0, "c": 0, "d": 1}


def test_filter_func_drops_keys_from_the_incremental_window(sc, cpdir):
    got = run_stream(sc, [PAIRS], lambda s: s.reduceByKeyAndWindow(
        operator.add, operator.sub, 5, 1, filterFunc=lambda kv: kv[1] > 0), checkpoint=cpdir)
    assert [dict(b) for b in got] == [sums(in_window(PAIRS, 5, t)) for t in range(1, len(PAIRS) + 1)]


COMBOS = [(5, 1), (6, 1), (6, 2), (6, 3), (10, 2), (4, 1), (2, 1), (3, 3), (8, 4), (12, 2), (7, 1)]


def test_inverse_reduce_matches_full_recompute(sc, cpdir):
    rng = random.Random(7)
    batches = [[(rng.choice("abcdefg"), rng.randint(-3, 9)) for _ in range(rng.randint(0, 6))] for _ in range(32)]

    def build(s):
        outs = []
        for w, sl in COMBOS:          # one output (one job per window) for both results
            inc = s.reduceByKeyAndWindow(operator.add, operator.sub, w, sl, 3)
            full = s.reduceByKeyAndWindow(operator.add, None, w, sl, 3)
            outs.append(inc.map(lambda kv: ("inc", kv)).union(full.map(lambda kv: ("full", kv))))
        return outs
    results = run_stream(sc, [batches], build, checkpoint=cpdir)
    for (w, sl), both in zip(COMBOS, results):
        times = valid_times(len(batches), sl)
        assert len(both) == len(times)
        for t, batch in zip(times, both):
            inc = [kv for tag, kv in batch if tag == "inc"]
            fu = [kv for tag, kv in batch if tag == "full"]
            in_win = sums(in_window(batches, w, t))
            present = {k for k, _ in in_window(batches, w, t)}
            assert dict(fu) == in_win, (w, sl, t)
            inc = dict(inc)
            assert {k: v for k, v in inc.items() if k in present} == in_win, (w, sl, t)
            assert all(v == 0 for k, v in inc.items() if k not in present), (w, sl, t)
            if w < 5 * sl:
                assert set(inc) == present, (w, sl, t)


KEYS = st.sampled_from("abcdefghij")
FLOATS = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(window=st.dictionaries(KEYS, FLOATS), leaving=st.dictionaries(KEYS, st.none() | FLOATS),
       entering=st.dictionaries(KEYS, FLOATS))
def test_window_step_takes_out_then_adds_in_previous_key_order(sc, window, leaving, entering):
    """Per partition: the previous window's keys in their order, invFunc for
    leaving values (None and keys not in the window are skipped), then func
    for entering values, new keys last in entering order -- the records,
    order and float results of PySpark's leftOuterJoin + union + reduceByKey."""
    rdds = [sc.parallelize(list(d.items()), 2).partitionBy(3) for d in (window, leaving, entering)]
    got = WindowStepRDD(*rdds, operator.add, operator.sub).glom().collect()
    want = []
    for prev, left, came in zip(*(r.glom().collect() for r in rdds)):
        part = dict(prev)
        for k, w in left:
            if w is not None and k in part:
                part[k] = part[k] - w
        for k, x in came:
            part[k] = part[k] + x if k in part else x
        want.append(list(part.items()))
    assert got == want


# ----------------------------------------------------- built on the windows
def test_count_by_value_and_window_counts_values_present_in_the_window(sc, cpdir):
    got = run_stream(sc, [WORDS], lambda s: s.countByValueAndWindow(5, 1), checkpoint=cpdir)
    assert [dict(b) for b in got] == [dict(Counter(in_window(WORDS, 5, t))) for t in range(1, len(WORDS) + 1)]


def test_group_by_key_and_window_groups_values_in_batch_order(sc, cpdir):
    pairs = [[(w, i) for w in b] for i, b in enumerate(WORDS)]
    for window in (3, 5):
        got = run_stream(sc, [pairs], lambda s: s.groupByKeyAndWindow(window, 1).mapValues(list),
                         checkpoint=cpdir)
        for t, batch in zip(range(1, len(pairs) + 1), got):
            want = defaultdict(list)
            for k, v in in_window(pairs, window, t):
                want[k].append(v)
            got_map = dict(batch)
            assert {k: v for k, v in got_map.items() if v} == dict(want)
            if window < 5:
                assert all(got_map.values())


def test_group_by_key_and_window_does_not_mutate_earlier_windows(sc, cpdir):
    pairs = [[("k", i)] for i in range(12)]
    got = run_stream(sc, [pairs], lambda s: s.groupByKeyAndWindow(6, 1).mapValues(list), checkpoint=cpdir)
    assert [dict(b)["k"] for b in got] == [list(range(max(0, t - 6), t)) for t in range(1, 13)]


@pytest.mark.parametrize("inverse", [None, operator.sub])
def test_reduce_by_window_reduces_all_records_of_the_window(sc, cpdir, inverse):
    got = run_stream(sc, [INTS], lambda s: s.reduceByWindow(operator.add, inverse, 3, 1), checkpoint=cpdir)
    want = [[sum(in_window(INTS, 3, t))] if in_window(INTS, 3, t) else [] for t in range(1, len(INTS) + 1)]
    assert got == want


def test_count_by_window_counts_incrementally_and_keeps_zero(sc, cpdir):
    data = [[1], [2, 3], [], [], [], [], [], [4]]
    got = run_stream(sc, [data], lambda s: s.countByWindow(5, 1), checkpoint=cpdir)
    assert got == [[len(in_window(data, 5, t))] for t in range(1, len(data) + 1)]
    got = run_stream(sc, [data], lambda s: s.countByWindow(2, 1), checkpoint=cpdir)
    assert got == [[n] if n else [] for n in (len(in_window(data, 2, t)) for t in range(1, len(data) + 1))]


def test_windowed_results_are_checkpointed_and_old_checkpoints_deleted(sc, tmp_path):
    ckpt = tmp_path / "cp"
    data = [[("k", 1)]] * 45
    got = run_stream(sc, [data], lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1),
                     checkpoint=str(ckpt))
    assert [dict(b)["k"] for b in got] == [min(t, 5) for t in range(1, 46)]
    rdd_dirs = {str(p) for p in (ckpt / "rdds").rglob("rdd-*")}
    # data checkpoints every 10 s; what is left is exactly what the kept
    # metadata checkpoints refer to (older ones were deleted on the way)
    kept = [parse(payload) for _, payload in CheckpointStore(str(ckpt)).valid()]
    assert len(kept) == 3
    assert rdd_dirs == {ref for c in kept for ref in c.refs}
    assert len(rdd_dirs) in range(1, 5)
