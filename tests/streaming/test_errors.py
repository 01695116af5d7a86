"""Failures are never swallowed: a raising user function fails its batch,
awaitTermination raises a BatchFailedError naming the batch and the output
operation, the context stops and later batches do not run (both executors).
Bad input is refused with a message saying what was wrong.

No test in this module sets a checkpoint directory before the ones that
check it is required (the SparkContext is shared by the module)."""
from __future__ import annotations

import operator

import pytest

from fluvial.streaming import BatchFailedError, StateSpec, StreamingContext
from fluvial.testing import ManualClock, queue_source


class Boom(Exception):
    pass


def started(sc, build, batches=([1], [2], [3], [4])):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    build(queue_source(ssc, batches))
    ssc.start()
    return ssc, clock


def test_failing_foreach_rdd_fails_its_batch_and_stops_the_context(sc):
    seen = []

    def out(rdd):
        data = rdd.collect()
        if data == [2]:
            raise Boom("bad record 2")
        seen.append(data)
    ssc, clock = started(sc, lambda s: s.foreachRDD(out))
    try:
        clock.advance(4)
        with pytest.raises(BatchFailedError) as info:
            ssc.awaitTermination()
        err = info.value
        assert err.batch_time == 2000
        assert isinstance(err.__cause__, Boom) and str(err.__cause__) == "bad record 2"
        assert "Batch 2000 ms" in str(err) and "Boom: bad record 2" in str(err)
        assert "foreachRDD at test_errors.py:" in str(err)
        assert ssc.getState() == "STOPPED"
        assert seen == [[1]]                      # batches 3 and 4 never ran
        with pytest.raises(BatchFailedError):     # raised again, every time
            ssc.awaitTerminationOrTimeout(1)
    finally:
        ssc.stop(stopSparkContext=False)


def test_failure_in_a_task_keeps_its_exception_type_on_both_executors(sc):
    seen = []
    ssc, clock = started(sc, lambda s: s.map(lambda x: int("x") if x == 3 else x)
                         .foreachRDD(lambda rdd: seen.append(rdd.collect())))
    try:
        clock.advance(4)
        with pytest.raises(BatchFailedError, match=r"Batch 3000 ms .* failed in output operation 0 "
                                                   r"\(foreachRDD at test_errors.py:\d+\): ValueError") as info:
            ssc.awaitTerminationOrTimeout(5)
        assert type(info.value.__cause__) is ValueError
        assert seen == [[1], [2]]
    finally:
        ssc.stop(stopSparkContext=False)


def test_remaining_output_operations_of_a_failed_batch_do_not_run(sc):
    ran = []

    def build(s):
        s.foreachRDD(lambda rdd: 1 / 0)
        s.foreachRDD(lambda rdd: ran.append(rdd.collect()))
    ssc, clock = started(sc, build)
    try:
        clock.advance(2)
        with pytest.raises(BatchFailedError, match="output operation 0") as info:
            ssc.awaitTermination(5)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert ran == []
    finally:
        ssc.stop(stopSparkContext=False)


def test_failure_while_generating_rdds_names_the_output_operation(sc):
    ssc, clock = started(sc, lambda s: s.transform(lambda t, rdd: rdd if t.second < 2 else rdd.nope())
                         .pprint())
    try:
        clock.advance(3)
        with pytest.raises(BatchFailedError, match=r"Batch 2000 ms .* generating the RDDs of pprint at "
                                                   r"test_errors.py:\d+: AttributeError"):
            ssc.awaitTermination(5)
    finally:
        ssc.stop(stopSparkContext=False)


@pytest.mark.parametrize("build,message", [
    (lambda s: s.transform(lambda rdd: rdd.collect()), "must return an RDD or None, got list"),
    (lambda s: s.transformWith(lambda a, b: 3, s), "must return an RDD or None, got int"),
    (lambda s: s.context().transform([s], lambda rdds: None), "Transform function must not return None"),
    (lambda s: s.context().transform([s], lambda rdds: rdds), "must return an RDD, got tuple"),
])
def test_transform_functions_must_return_rdds(sc, build, message):
    ssc, clock = started(sc, lambda s: build(s).foreachRDD(lambda rdd: None))
    try:
        clock.advance(1)
        with pytest.raises(BatchFailedError, match=message) as info:
            ssc.awaitTermination(5)
        assert isinstance(info.value.__cause__, TypeError)
    finally:
        ssc.stop(stopSparkContext=False)


def test_await_termination_times_out_without_error(sc):
    ssc, clock = started(sc, lambda s: s.foreachRDD(lambda rdd: None))
    try:
        clock.advance(1)
        assert ssc.awaitTerminationOrTimeout(0.01) is False
        assert ssc.awaitTermination(0.01) is None
    finally:
        ssc.stop(stopSparkContext=False)
    assert ssc.awaitTerminationOrTimeout(0) is True


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("duration,exc,message", [
    (0, ValueError, "batchDuration must be positive"),
    (-1, ValueError, "batchDuration must be positive"),
    (0.0001, ValueError, "batchDuration must be positive"),
    ("1", TypeError, "batchDuration must be a number of seconds"),
    (None, ValueError, "batchDuration .* is required"),
])
def test_batch_duration_must_be_a_positive_number(sc, duration, exc, message):
    with pytest.raises(exc, match=message):
        StreamingContext(sc, duration)


def test_adding_an_operation_after_start_is_refused(sc):
    ssc, clock = started(sc, lambda s: s.foreachRDD(lambda rdd: None))
    try:
        stream = ssc._graph.input_streams[0]
        with pytest.raises(RuntimeError, match="Adding new inputs, transformations, and output operations "
                                               "after starting a context is not supported"):
            stream.map(str)
        with pytest.raises(RuntimeError, match="Cannot change storage level of a DStream after streaming "
                                               "context has started"):
            stream.cache()
        with pytest.raises(RuntimeError, match="Cannot change checkpoint interval of a DStream"):
            stream.checkpoint(5)
    finally:
        ssc.stop(stopSparkContext=False)
    with pytest.raises(RuntimeError, match="after stopping a context is not supported"):
        queue_source(ssc, [])


def test_starting_twice_is_refused_and_the_context_keeps_running(sc):
    ssc, clock = started(sc, lambda s: s.foreachRDD(lambda rdd: None))
    try:
        with pytest.raises(RuntimeError, match="StreamingContext has already been started"):
            ssc.start()
        assert ssc.getState() == "ACTIVE"
    finally:
        ssc.stop(stopSparkContext=False)
    with pytest.raises(RuntimeError, match="StreamingContext has already been stopped"):
        ssc.start()


def test_a_second_active_context_is_refused(sc):
    ssc, clock = started(sc, lambda s: s.foreachRDD(lambda rdd: None))
    other = StreamingContext(sc, 1, clock=ManualClock())
    queue_source(other, []).foreachRDD(lambda rdd: None)
    try:
        with pytest.raises(RuntimeError, match="Only one StreamingContext may be started in this process. "
                                               "Currently running StreamingContext was started at test_errors.py"):
            other.start()
        assert StreamingContext.getActive() is ssc
    finally:
        ssc.stop(stopSparkContext=False)
        other.stop(stopSparkContext=False)


def test_start_without_output_operations_fails_and_stops_the_context(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    queue_source(ssc, [[1]]).map(str)
    with pytest.raises(ValueError, match="No output operations registered, so nothing to execute"):
        ssc.start()
    assert ssc.getState() == "STOPPED"
    assert StreamingContext.getActive() is None


def test_remember_can_be_set_once(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    ssc.remember(5)
    with pytest.raises(ValueError, match="Remember duration already set as 5000 ms. Cannot set it again."):
        ssc.remember(6)
    ssc.stop(stopSparkContext=False)


CHECKPOINT_MESSAGE = r"The checkpoint directory has not been set. Please set it by StreamingContext.checkpoint\(\)."


@pytest.mark.parametrize("make", [
    lambda s: s.map(lambda x: (x, 1)).updateStateByKey(lambda vs, st: 1),
    lambda s: s.map(lambda x: (x, 1)).reduceByKeyAndWindow(operator.add, operator.sub, 2, 1),
    lambda s: s.countByWindow(2, 1),
    lambda s: s.map(lambda x: (x, 1)).mapWithState(StateSpec.function(lambda k, v, st: v)),
    lambda s: s.map(str).checkpoint(2),
], ids=["updateStateByKey", "reduceByKeyAndWindow", "countByWindow", "mapWithState", "checkpoint"])
def test_stateful_streams_need_a_checkpoint_directory(sc, make):
    assert sc.getCheckpointDir() is None
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    make(queue_source(ssc, [[1]])).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=CHECKPOINT_MESSAGE):
        ssc.start()
    assert ssc.getState() == "STOPPED"


def test_checkpoint_interval_must_be_a_multiple_of_the_slide(sc, tmp_path):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))        # last test of the module: sets the SparkContext's directory
    queue_source(ssc, [[1]]).window(2, 2).checkpoint(3).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=r"The checkpoint interval for WindowedDStream created at "
                                         r"test_errors.py:\d+ has been set to 3000 ms which is not a multiple "
                                         r"of its slide time \(2000 ms\)"):
        ssc.start()
    ssc2 = StreamingContext(sc, 2, clock=ManualClock())
    queue_source(ssc2, [[1]]).checkpoint(1).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=r"has been set to 1000 ms which is lower than its slide time"):
        ssc2.start()
