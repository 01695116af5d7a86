"""fluvial.testing: the examples in the docstrings run as written; ListSink,
QueueSource.push, advance_batches and run_stream behave as documented.

This module creates its own SparkContexts (the docstring examples do), so it
does not use the shared ``sc`` fixture."""
from __future__ import annotations

import textwrap

import pytest

import fluvial.streaming.state
import fluvial.testing
from support import make_context
from fluvial.streaming import StreamingContext
from fluvial.testing import ListSink, ManualClock, QueueSource, advance_batches, run_stream


def example(module) -> str:
    doc = module.__doc__
    assert "Example::\n" in doc, f"{module.__name__} has no example"
    block = doc.split("Example::\n", 1)[1]
    lines = []
    for line in block.split("\n"):
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


@pytest.mark.parametrize("module", [fluvial.testing, fluvial.streaming.state], ids=lambda m: m.__name__)
def test_docstring_example_runs(module):
    code = example(module)
    assert "assert" in code and "ssc.stop()" in code
    exec(compile(code, f"<{module.__name__} example>", "exec"), {"__name__": "example"})


@pytest.fixture
def own_sc():
    sc = make_context("inprocess")
    yield sc
    sc.stop()


def test_queue_source_push_and_list_sink(own_sc):
    clock = ManualClock()
    ssc = StreamingContext(own_sc, 1, clock=clock)
    try:
        source = QueueSource(ssc, [[1, 2]], numSlices=2)
        sink = ListSink(source.stream.map(lambda x: x * 10))
        ssc.start()
        advance_batches(ssc)
        source.push([3])
        source.push(own_sc.parallelize([4, 5]))
        advance_batches(ssc, 3)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [[10, 20], [30], [40, 50], []]
    assert sink.times == [1000, 2000, 3000, 4000]
    assert sink.records == [10, 20, 30, 40, 50]
    assert sink.sorted_batches() == [[10, 20], [30], [40, 50], []]


def test_advance_batches_needs_a_manual_clock(own_sc):
    ssc = StreamingContext(own_sc, 1)
    try:
        with pytest.raises(TypeError, match="advance_batches needs a StreamingContext created with a ManualClock"):
            advance_batches(ssc)
    finally:
        ssc.stop(stopSparkContext=False)


def test_run_stream_with_several_inputs_and_outputs(own_sc):
    out = run_stream(own_sc, [[[1], [2]], [["a"]]], lambda a, b: [a.union(b.map(str)), b], num_batches=3)
    assert out == [[[1, "a"], [2], []], [["a"], [], []]]


def test_run_stream_raises_the_failed_batch(own_sc):
    from fluvial.streaming import BatchFailedError
    with pytest.raises(BatchFailedError, match="Batch 2000 ms"):
        run_stream(own_sc, [[[1], [0]]], lambda s: s.map(lambda x: 1 // x))
    assert StreamingContext.getActive() is None


def test_manual_clock_from_spark_conf():
    sc = make_context("inprocess", **{"spark.streaming.clock": "org.apache.spark.util.ManualClock"})
    try:
        ssc = StreamingContext(sc, 1)
        assert isinstance(ssc.clock, ManualClock)
        ssc.stop(stopSparkContext=False)
    finally:
        sc.stop()
    sc = make_context("inprocess", **{"spark.streaming.clock": "sundial"})
    try:
        with pytest.raises(ValueError, match="spark.streaming.clock='sundial' is not a known clock"):
            StreamingContext(sc, 1)
    finally:
        sc.stop()
