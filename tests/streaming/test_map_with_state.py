"""mapWithState: the State API, per-record calls, removal, initial state,
timeouts (one call with value None and isTimingOut(), then the key is gone)
and state snapshots — on both executors."""
from __future__ import annotations

import pytest

from fluvial.streaming import State, StateSpec, StreamingContext
from fluvial.testing import ManualClock, queue_source, run_stream


@pytest.fixture(scope="module")
def cpdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mws-checkpoints"))


def with_snapshots(spec_factory):
    def build(s):
        mapped = s.mapWithState(spec_factory())
        return [mapped, mapped.stateSnapshots()]
    return build


def counting(key, value, state):
    if state.isTimingOut():
        return (key, "timeout", state.get())
    n = (state.getOption() or 0) + value
    state.update(n)
    return (key, n)


# ------------------------------------------------------------------ State
def test_state_accessors_and_their_errors():
    st = State(False)
    assert not st.exists() and st.getOption() is None and not st.isTimingOut()
    with pytest.raises(LookupError, match="State is not set"):
        st.get()
    st.update(3)
    assert st.exists() and st.get() == 3 and st.getOption() == 3
    st.remove()
    assert not st.exists()
    with pytest.raises(ValueError, match="Cannot update the state after it has been removed"):
        st.update(1)
    with pytest.raises(ValueError, match="Cannot remove the state that has already been removed"):
        st.remove()
    timing_out = State(True, 5, timing_out=True)
    assert timing_out.isTimingOut() and timing_out.get() == 5
    with pytest.raises(ValueError, match="Cannot update the state that is timing out"):
        timing_out.update(1)
    with pytest.raises(ValueError, match="Cannot remove the state that is timing out"):
        timing_out.remove()


def test_state_spec_rejects_bad_arguments():
    with pytest.raises(TypeError, match="mappingFunction must be callable"):
        StateSpec.function(42)
    with pytest.raises(ValueError, match="numPartitions must be a positive integer"):
        StateSpec.function(counting).numPartitions(0)
    with pytest.raises(ValueError, match="StateSpec timeout must be positive"):
        StateSpec.function(counting).timeout(0)
    spec = StateSpec.function(counting)
    assert spec.numPartitions(3) is spec and spec.timeout(5) is spec and spec.initialState([]) is spec


def test_map_with_state_takes_a_state_spec(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        with pytest.raises(TypeError, match="mapWithState takes a StateSpec, got function"):
            queue_source(ssc, []).mapWithState(counting)
    finally:
        ssc.stop(stopSparkContext=False)


# --------------------------------------------------------------- streams
def test_function_is_called_once_per_record_in_arrival_order(sc, cpdir):
    batches = [[("a", 1), ("b", 1), ("a", 1)], [("a", 1)], []]
    mapped, snaps = run_stream(sc, [batches], with_snapshots(lambda: StateSpec.function(counting).numPartitions(1)),
                               checkpoint=cpdir)
    assert mapped == [[("a", 1), ("b", 1), ("a", 2)], [("a", 3)], []]
    assert [dict(s) for s in snaps] == [{"a": 2, "b": 1}, {"a": 3, "b": 1}, {"a": 3, "b": 1}]


def test_remove_drops_the_key_and_none_returns_are_emitted(sc, cpdir):
    def func(key, value, state):
        if value == "del":
            state.remove()
            return None
        state.update(value)
        return value
    batches = [[("a", 1), ("b", 2)], [("a", "del")], [("a", 3)]]
    mapped, snaps = run_stream(sc, [batches], with_snapshots(lambda: StateSpec.function(func)), checkpoint=cpdir)
    assert [sorted(b, key=repr) for b in mapped] == [[1, 2], [None], [3]]
    assert [dict(s) for s in snaps] == [{"a": 1, "b": 2}, {"b": 2}, {"a": 3, "b": 2}]


def test_initial_state_is_seen_by_the_first_batch(sc, cpdir):
    for initial in ([("a", 10), ("z", 1)], sc.parallelize([("a", 10), ("z", 1)])):
        mapped, snaps = run_stream(sc, [[[("a", 1)]]], with_snapshots(
            lambda: StateSpec.function(counting).initialState(initial)), checkpoint=cpdir)
        assert mapped == [[("a", 11)]]
        assert dict(snaps[0]) == {"a": 11, "z": 1}


def test_timeout_calls_the_function_once_then_drops_the_key(sc, cpdir):
    batches = [[("a", 1), ("b", 1)], [("b", 1)], [], [], [], []]
    mapped, snaps = run_stream(sc, [batches], with_snapshots(lambda: StateSpec.function(counting).timeout(2)),
                               checkpoint=cpdir)
    # a last seen at 1 s: idle for more than 2 s at 4 s; b last seen at 2 s: at 5 s.
    assert [sorted(b) for b in mapped] == [[("a", 1), ("b", 1)], [("b", 2)], [], [("a", "timeout", 1)],
                                           [("b", "timeout", 2)], []]
    assert [dict(s) for s in snaps] == [{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 2}, {"b": 2}, {}, {}]


def test_a_record_resets_the_timer_even_without_an_update(sc, cpdir):
    def peek(key, value, state):
        if state.isTimingOut():
            return "timeout"
        if value == "set":
            state.update(1)
        return "seen"
    batches = [[("a", "set")], [], [("a", "look")], [], [], [], []]
    mapped = run_stream(sc, [batches], lambda s: s.mapWithState(StateSpec.function(peek).timeout(2)),
                        checkpoint=cpdir)
    assert mapped == [["seen"], [], ["seen"], [], [], ["timeout"], []]


def test_initial_state_times_out_from_the_first_batch(sc, cpdir):
    mapped = run_stream(sc, [[[], [], [], []]], lambda s: s.mapWithState(
        StateSpec.function(counting).initialState([("q", 7)]).timeout(2)), checkpoint=cpdir)
    assert mapped == [[], [], [], [("q", "timeout", 7)]]


def test_mapping_function_with_four_arguments_gets_the_batch_time(sc, cpdir):
    def func(time, key, value, state):
        return (time.second, key, value)
    mapped = run_stream(sc, [[[("a", 1)], [("b", 2)]]], lambda s: s.mapWithState(StateSpec.function(func)),
                        checkpoint=cpdir)
    assert mapped == [[(1, "a", 1)], [(2, "b", 2)]]


def test_many_batches_of_state_stay_correct_with_checkpoints(sc, cpdir):
    batches = [[(i % 5, 1)] for i in range(45)]
    mapped = run_stream(sc, [batches], lambda s: s.mapWithState(StateSpec.function(counting)), checkpoint=cpdir)
    assert [b[0] for b in mapped] == [(i % 5, i // 5 + 1) for i in range(45)]
