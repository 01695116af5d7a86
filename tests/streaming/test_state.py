"""updateStateByKey: the update function's calls, removal with None, the
initial RDD, a long run (bounded lineage), and the property that the state
stream equals a running fold in plain Python — on both executors."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluvial.streaming import StreamingContext
from fluvial.testing import ListSink, ManualClock, queue_source, run_stream


@pytest.fixture(scope="module")
def cpdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("state-checkpoints"))


def running_sum(values, state):
    return (state or 0) + sum(values)


def fold(batches, update, initial=None):
    """The reference: one state dict, every key with values or state updated each batch."""
    state = dict(initial or {})
    out = []
    for batch in batches:
        new: dict = {}
        for k, v in batch:
            new.setdefault(k, []).append(v)
        for k in set(state) | set(new):
            result = update(new.get(k, []), state.get(k))
            if result is None:
                state.pop(k, None)
            else:
                state[k] = result
        out.append(dict(state))
    return out


def test_running_sum_per_key(sc, cpdir):
    batches = [[("a", 1), ("b", 2)], [("a", 3)], [], [("c", 1), ("b", 1)]]
    got = run_stream(sc, [batches], lambda s: s.updateStateByKey(running_sum), checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": 1, "b": 2}, {"a": 4, "b": 2}, {"a": 4, "b": 2}, {"a": 4, "b": 3, "c": 1}]


def test_keys_without_new_values_are_updated_with_an_empty_list(sc, cpdir):
    def update(values, state):
        calls, empty = state or (0, 0)
        return (calls + 1, empty + (values == []))
    batches = [[("a", 1)], [], [("a", 2)], [("b", 1)]]
    got = run_stream(sc, [batches], lambda s: s.updateStateByKey(update), checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": (1, 0)}, {"a": (2, 1)}, {"a": (3, 1)}, {"a": (4, 2), "b": (1, 0)}]


def test_returning_none_removes_the_key(sc, cpdir):
    def update(values, state):
        return None if "stop" in values else (state or 0) + len(values)
    batches = [[("a", "x"), ("b", "x")], [("a", "stop")], [("a", "x")], []]
    got = run_stream(sc, [batches], lambda s: s.updateStateByKey(update), checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": 1, "b": 1}, {"b": 1}, {"a": 1, "b": 1}, {"a": 1, "b": 1}]


@pytest.mark.parametrize("as_rdd", [True, False])
def test_initial_rdd_is_the_state_before_the_first_batch(sc, cpdir, as_rdd):
    initial = [("a", 10), ("z", 5)]
    got = run_stream(sc, [[[("a", 1)], [("b", 1)]]], lambda s: s.updateStateByKey(
        running_sum, initialRDD=sc.parallelize(initial) if as_rdd else initial), checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": 11, "z": 5}, {"a": 11, "z": 5, "b": 1}]


def test_a_key_repeated_in_the_initial_rdd_starts_from_its_first_state(sc, cpdir):
    initial = sc.parallelize([("a", 10), ("b", 1), ("a", 99)], 1)
    got = run_stream(sc, [[[("a", 1)], []]], lambda s: s.updateStateByKey(running_sum, 2, initial),
                     checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": 11, "b": 1}, {"a": 11, "b": 1}]


def test_num_partitions_sets_the_state_partitions(sc, cpdir):
    got = run_stream(sc, [[[("a", 1), ("b", 1), ("c", 1)]]],
                     lambda s: s.updateStateByKey(running_sum, numPartitions=5).glom().map(len), checkpoint=cpdir)
    assert len(got[0]) == 5 and sum(got[0]) == 3


def test_batches_without_an_rdd_carry_the_state_over(sc, cpdir):
    def build(s):
        sparse = s.transform(lambda t, rdd: rdd if t.second in (1, 4) else None)
        return sparse.updateStateByKey(lambda vs, st: (st or 0) + 1)
    got = run_stream(sc, [[[("a", 1)], [("a", 1)], [("a", 1)], [("a", 1)]]], build, checkpoint=cpdir)
    assert [dict(b) for b in got] == [{"a": 1}, {"a": 1}, {"a": 1}, {"a": 2}]


def test_state_over_many_batches_keeps_a_short_lineage(sc, tmp_path):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    ssc.checkpoint(str(tmp_path))
    try:
        state = queue_source(ssc, [[(i % 7, 1), (i % 3, 1)] for i in range(120)], 2).updateStateByKey(running_sum)
        sink = ListSink(state)
        ssc.start()
        clock.advance(120)
        last = state._generated[max(state._generated)]
        depth = last.toDebugString().decode().count("\n")
    finally:
        ssc.stop(stopSparkContext=False)
    want = fold([[(i % 7, 1), (i % 3, 1)] for i in range(120)], running_sum)
    assert [dict(b) for b in sink.batches] == want
    assert depth < 80          # cut at a checkpoint at most 10 batches back


pairs = st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(-2, 5)), max_size=6)


def capped(values, state):
    total = (state or 0) + sum(values)
    return None if total > 8 else total


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(pairs, min_size=1, max_size=6),
       st.lists(st.tuples(st.sampled_from("aeg"), st.integers(0, 3)), max_size=3, unique_by=lambda kv: kv[0]))
def test_update_state_by_key_equals_a_running_fold(sc, cpdir, batches, initial):
    got = run_stream(sc, [batches], lambda s: s.updateStateByKey(capped, 3, initial or None),
                     checkpoint=cpdir, numSlices=2)
    assert [dict(b) for b in got] == fold(batches, capped, dict(initial))
