"""Failures: task exceptions, lost worker processes, accumulators and
broadcasts across worker boundaries."""
from __future__ import annotations

import pytest


class CustomError(Exception):
    pass


@pytest.mark.parametrize("exc", [ZeroDivisionError, KeyError, CustomError])
def test_task_exception_fails_action_with_original_type(sc, exc):
    def boom(x):
        if x == 7:
            raise exc("bad record 7")
        return x
    with pytest.raises(exc, match="bad record 7"):
        sc.parallelize(range(10), 3).map(boom).collect()
    assert sc.parallelize(range(3)).count() == 3  # the context is still usable


def test_task_exception_in_shuffle_stage_and_reduce_side(sc):
    with pytest.raises(ValueError, match="map side"):
        sc.parallelize(range(4), 2).map(lambda x: int("map side") if x == 3 else (x, x)).groupByKey().collect()

    def merge(a, b):
        raise ValueError("reduce side")
    with pytest.raises(ValueError, match="reduce side"):
        sc.parallelize([(1, 1)] * 4, 2).reduceByKey(merge).collect()


def test_failed_job_leaves_no_accumulator_updates(sc):
    acc = sc.accumulator(0)

    def f(x):
        acc.add(1)
        if x == 5:
            raise RuntimeError("stop")
    with pytest.raises(RuntimeError):
        sc.parallelize(range(6), 1).foreach(f)
    assert acc.value == 0


def test_accumulators_count_each_successful_task_once(sc):
    acc = sc.accumulator(0)
    fl = sc.accumulator(0.0)
    rdd = sc.parallelize(range(100), 4).map(lambda x: (acc.add(1), fl.add(0.5), x)[2])
    assert rdd.count() == 100
    assert acc.value == 100 and fl.value == 50.0
    rdd.cache().count()
    rdd.count()
    assert acc.value == 200


def test_custom_accumulator_param(sc):
    from fluvial import AccumulatorParam

    class ListParam(AccumulatorParam):
        def zero(self, value):
            return []

        def addInPlace(self, a, b):
            return a + (b if isinstance(b, list) else [b])
    acc = sc.accumulator([], ListParam())
    sc.parallelize(range(5), 2).foreach(lambda x: acc.add(x))
    assert sorted(acc.value) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="str"):
        sc.accumulator("text")


def test_accumulator_value_is_driver_only(sc):
    acc = sc.accumulator(1)
    with pytest.raises(RuntimeError, match="inside tasks"):
        sc.parallelize([1], 1).foreach(lambda _: acc.value)


def test_broadcast_reaches_every_task(sc):
    table = sc.broadcast({i: i * i for i in range(100)})
    assert sc.parallelize(range(100), 4).map(lambda x: table.value[x]).sum() == sum(i * i for i in range(100))
    assert table.value[3] == 9
    table.unpersist()
    assert sc.parallelize([2], 1).map(lambda x: table.value[x]).collect() == [4]
    table.destroy()
    with pytest.raises(RuntimeError, match="destroyed"):
        table.value
    with pytest.raises(RuntimeError, match="destroyed"):
        sc.parallelize([1], 1).map(lambda x: table.value[x]).collect()
