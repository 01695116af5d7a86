"""Every operator's lineage survives a cloudpickle round trip: the unpickled
RDD computes each partition exactly as the driver's copy does, given the same
task inputs (what a worker process receives)."""
from __future__ import annotations

import subprocess
import sys
from operator import add

import cloudpickle
import pytest
from core_helpers import context

from fluvial.core.task import Stage, run_task

KV = [(i % 4, i) for i in range(24)]
OPERATORS = {
    "map": lambda sc: sc.parallelize(range(20), 3).map(lambda x: x * 3),
    "flatMap": lambda sc: sc.parallelize(range(10), 2).flatMap(lambda x: [x] * (x % 3)),
    "filter": lambda sc: sc.parallelize(range(20), 3).filter(lambda x: x % 2),
    "mapPartitions": lambda sc: sc.parallelize(range(20), 3).mapPartitions(lambda it: [sum(it)]),
    "mapPartitionsWithIndex": lambda sc: sc.parallelize(range(9), 3).mapPartitionsWithIndex(
        lambda i, it: [(i, list(it))]),
    "glom": lambda sc: sc.parallelize(range(7), 2).glom(),
    "keyBy": lambda sc: sc.parallelize(range(5), 2).keyBy(str),
    "union": lambda sc: sc.parallelize(range(5), 2).union(sc.parallelize("ab", 1)),
    "coalesce": lambda sc: sc.parallelize(range(12), 4).coalesce(2),
    "repartition": lambda sc: sc.parallelize(range(12), 2).repartition(3),
    "zip": lambda sc: sc.parallelize(range(6), 2).zip(sc.parallelize("abcdef", 2)),
    "zipWithIndex": lambda sc: sc.parallelize("abcde", 3).zipWithIndex(),
    "zipWithUniqueId": lambda sc: sc.parallelize("abcde", 3).zipWithUniqueId(),
    "cartesian": lambda sc: sc.parallelize(range(3), 2).cartesian(sc.parallelize("xy", 2)),
    "sample": lambda sc: sc.parallelize(range(50), 2).sample(False, 0.3, 5),
    "randomSplit": lambda sc: sc.parallelize(range(50), 2).randomSplit([1, 1], 3)[1],
    "pipe": lambda sc: sc.parallelize(["a", "b"], 2).pipe("cat"),
    "distinct": lambda sc: sc.parallelize([1, 1, 2, 3, 3], 2).distinct(),
    "groupBy": lambda sc: sc.parallelize(range(10), 2).groupBy(lambda x: x % 3).mapValues(list),
    "sortBy": lambda sc: sc.parallelize([3, 1, 2, 5], 2).sortBy(lambda x: -x, numPartitions=2),
    "intersection": lambda sc: sc.parallelize(range(10), 2).intersection(sc.parallelize(range(5, 15), 3)),
    "subtract": lambda sc: sc.parallelize(range(10), 2).subtract(sc.parallelize([2, 4], 1)),
    "reduceByKey": lambda sc: sc.parallelize(KV, 3).reduceByKey(add),
    "groupByKey": lambda sc: sc.parallelize(KV, 3).groupByKey(2).mapValues(list),
    "combineByKey": lambda sc: sc.parallelize(KV, 3).combineByKey(str, lambda c, v: c + str(v), add),
    "aggregateByKey": lambda sc: sc.parallelize(KV, 3).aggregateByKey(0, add, add),
    "foldByKey": lambda sc: sc.parallelize(KV, 3).foldByKey(0, add),
    "partitionBy": lambda sc: sc.parallelize(KV, 3).partitionBy(2, lambda k: k * 7),
    "sortByKey": lambda sc: sc.parallelize(KV, 3).sortByKey(False, 2),
    "repartitionAndSortWithinPartitions": lambda sc: sc.parallelize(KV, 3).repartitionAndSortWithinPartitions(2),
    "join": lambda sc: sc.parallelize(KV, 2).join(sc.parallelize([(1, "a"), (2, "b")], 1)),
    "leftOuterJoin": lambda sc: sc.parallelize(KV, 2).leftOuterJoin(sc.parallelize([(1, "a")], 1)),
    "rightOuterJoin": lambda sc: sc.parallelize(KV, 2).rightOuterJoin(sc.parallelize([(9, "a")], 1)),
    "fullOuterJoin": lambda sc: sc.parallelize(KV, 2).fullOuterJoin(sc.parallelize([(9, "a")], 1)),
    "cogroup": lambda sc: sc.parallelize(KV, 2).cogroup(sc.parallelize([(1, "a")], 1)).mapValues(
        lambda vs: [list(v) for v in vs]),
    "groupWith": lambda sc: sc.parallelize(KV, 2).groupWith(sc.parallelize([(1, "a")]), sc.parallelize([(2, 0)]))
    .mapValues(lambda vs: [list(v) for v in vs]),
    "subtractByKey": lambda sc: sc.parallelize(KV, 2).subtractByKey(sc.parallelize([(1, None)])),
    "keys": lambda sc: sc.parallelize(KV, 2).keys(),
    "values": lambda sc: sc.parallelize(KV, 2).values(),
    "mapValues": lambda sc: sc.parallelize(KV, 2).mapValues(str),
    "flatMapValues": lambda sc: sc.parallelize(KV, 2).flatMapValues(range),
    "sampleByKey": lambda sc: sc.parallelize(KV, 2).sampleByKey(True, {k: 0.5 for k in range(4)}, 2),
    "cache": lambda sc: sc.parallelize(range(10), 2).map(str).cache(),
    "textFile": lambda sc: sc.textFile(__file__, 3),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_lineage_round_trips_through_cloudpickle(sc_inprocess, name):
    sc = sc_inprocess
    rdd = OPERATORS[name](sc)
    expected = rdd.glom().collect()  # also materialises the shuffles the lineage reads
    clone = cloudpickle.loads(cloudpickle.dumps(rdd))
    assert clone.ctx is None
    for split in range(rdd.getNumPartitions()):
        inputs = sc._dag.task_inputs(rdd, split)
        stage = cloudpickle.loads(cloudpickle.dumps(Stage(0, clone, "result", func=list)))
        assert run_task(stage, split, inputs).value == expected[split], (name, split)


@pytest.fixture(scope="module")
def sc_inprocess():
    sc = context("inprocess")
    yield sc
    sc.stop()


def test_records_of_classes_defined_in_the_driver_script_reach_workers(tmp_path):
    # a worker's __main__ is not the user's script: records whose class the
    # script defines must travel by value (parallelize, shuffle, collect)
    script = tmp_path / "job.py"
    script.write_text(
        "from collections import namedtuple\n"
        "from fluvial import SparkContext\n"
        "Point = namedtuple('Point', 'x y')\n"
        "class Box:\n"
        "    def __init__(self, v):\n"
        "        self.v = v\n"
        "sc = SparkContext('local[2]', 'main-classes')\n"
        "points = sc.parallelize([Point(i % 3, i) for i in range(30)], 3)\n"
        "sums = points.map(lambda p: (p, 1)).reduceByKey(lambda a, b: a + b, 2).collect()\n"
        "assert sorted(sums) == sorted((Point(i % 3, i), 1) for i in range(30)), sums\n"
        "assert all(type(p) is Point for p, _ in sums)\n"
        "boxes = sc.parallelize([Box(i) for i in range(10)], 2).map(lambda b: b.v * 2).collect()\n"
        "assert boxes == [i * 2 for i in range(10)], boxes\n"
        "sc.stop()\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
