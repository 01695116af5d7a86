"""Fused per-record loops behave exactly like the chain of steps they replace."""
from __future__ import annotations

import itertools
from operator import add

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluvial.core.pipeline import CombineStep, PartitionStep, RecordStep, compile_steps
from fluvial.core.shuffle import identity

STEPS = {
    "map": RecordStep("map", lambda x: x * 3 + 1),
    "flatMap": RecordStep("flatMap", lambda x: range(x % 4)),
    "filter": RecordStep("filter", lambda x: x % 3 != 0),
    "partitions": PartitionStep(lambda split, it: (x + split for x in it)),
}


def reference(steps: list, split: int, records: list) -> list:
    out = list(records)
    for step in steps:
        if isinstance(step, PartitionStep):
            out = list(step.f(split, iter(out)))
        elif step.kind == "map":
            out = [step.f(x) for x in out]
        elif step.kind == "flatMap":
            out = [y for x in out for y in step.f(x)]
        else:
            out = [x for x in out if step.f(x)]
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), max_size=6), st.lists(st.integers(0, 50), max_size=30),
       st.integers(0, 3))
def test_fused_chain_equals_step_by_step(names, records, split):
    steps = [STEPS[n] for n in names]
    assert list(compile_steps(tuple(steps))(split, iter(records))) == reference(steps, split, records)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["map", "flatMap", "filter"]), max_size=4), st.lists(st.integers(0, 50), max_size=30))
def test_combine_at_the_end_of_a_run_folds_in_first_seen_key_order(names, records):
    steps = [STEPS[n] for n in names]
    keyed = RecordStep("map", lambda x: (x % 5, x))
    fused = compile_steps(tuple(steps) + (keyed, CombineStep(identity, add)))
    expected: dict = {}
    for x in reference(steps + [keyed], 0, records):
        expected[x[0]] = expected[x[0]] + x[1] if x[0] in expected else x[1]
    assert list(fused(0, iter(records))) == list(expected.items())
    with_create = compile_steps((keyed, CombineStep(lambda v: [v], lambda acc, v: acc + [v])))
    grouped: dict = {}
    for x in records:
        grouped.setdefault(x % 5, []).append(x)
    assert dict(with_create(0, iter(records))) == grouped


def test_a_run_without_combine_stays_lazy():
    run = compile_steps((RecordStep("flatMap", lambda x: itertools.count(x)), RecordStep("map", str)))
    assert list(itertools.islice(run(0, iter([5])), 3)) == ["5", "6", "7"]


def test_stop_iteration_from_user_code_is_an_error_not_the_end_of_the_partition():
    def stop(x):
        raise StopIteration

    run = compile_steps((RecordStep("map", stop),))
    with pytest.raises(RuntimeError, match="StopIteration"):
        list(run(0, iter([1, 2])))


def _fold(records: list, create, merge) -> list:
    acc: dict = {}
    for k, v in records:
        acc[k] = create(v) if k not in acc else merge(acc[k], v)
    return list(acc.items())


@pytest.mark.parametrize("pair,create,merge,counted", [
    (lambda w: (w, 1), identity, add, True),
    (lambda w: (w, 1), lambda x: x, lambda a, b: a + b, True),
    (lambda w: (w, 1.0), identity, add, False),        # not the int 1
    (lambda w: (w, True), identity, add, False),       # bool, not int
    (lambda w: (w, 2), identity, add, False),
    (lambda w: (w, 1), identity, lambda a, b: b + a, False),
    (lambda w: (w, 1), lambda x: x * 10, add, False),
])
@settings(max_examples=25, deadline=None)
@given(lines=st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd", ""]), max_size=6).map(" ".join), max_size=20))
def test_word_count_shape_is_counted_in_C_with_the_same_result(pair, create, merge, counted, lines):
    from fluvial.core import pipeline
    steps = (RecordStep("flatMap", str.split), RecordStep("map", pair), CombineStep(create, merge))
    got = list(compile_steps(steps)(0, iter(lines)))
    words = [pair(w) for line in lines for w in line.split()]
    expected = _fold(words, create, merge)
    assert got == expected
    assert [type(v) for _, v in got] == [type(v) for _, v in expected]
    assert (("count", ("flatMap",)) in pipeline._FACTORIES) or not counted


def test_counting_an_unhashable_key_fails_like_the_dict_loop():
    steps = (RecordStep("map", lambda w: (w, 1)), CombineStep(identity, add))
    with pytest.raises(TypeError, match="unhashable"):
        list(compile_steps(steps)(0, iter([["a"]])))
