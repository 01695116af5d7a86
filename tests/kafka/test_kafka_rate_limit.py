"""spark.streaming.kafka.maxRatePerPartition drains a backlog in bounded
batches; the per-partition caps follow Spark's rule."""
from __future__ import annotations

import pytest

from support import EXECUTORS, make_context

from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils, OffsetRange
from fluvial.streaming.kafka.offsets import max_messages_per_partition
from fluvial.testing import ListSink, ManualClock


@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request):
    context = make_context(request.param, **{"spark.streaming.kafka.maxRatePerPartition": "3"})
    yield context
    context.stop()


def test_a_backlog_is_read_in_batches_of_at_most_max_rate_per_partition(broker, sc):
    topic = broker.topic("maxrate", partitions=2)
    broker.produce(topic, [(0, None, f"a{i}") for i in range(10)] + [(1, None, f"b{i}") for i in range(4)])
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], {"bootstrap.servers": broker.bootstrap,
                                                          "auto.offset.reset": "earliest"})
    ranges = []
    stream.foreachRDD(lambda rdd: ranges.append(rdd.offsetRanges()))
    sink = ListSink(stream.map(lambda kv: kv[1]))
    ssc.start()
    ssc.clock.advance(5)
    ssc.stop(stopSparkContext=False)
    assert [[(r.fromOffset, r.untilOffset) for r in batch] for batch in ranges] == [
        [(0, 3), (0, 3)], [(3, 6), (3, 4)], [(6, 9), (4, 4)], [(9, 10), (4, 4)], [(10, 10), (4, 4)]]
    assert ranges[0] == [OffsetRange(topic, 0, 0, 3), OffsetRange(topic, 1, 0, 3)]
    read = [v for batch in sink.batches for v in batch]
    assert sorted(read) == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(4)])  # each once
    assert [v for v in read if v[0] == "a"] == [f"a{i}" for i in range(10)]                      # in order


def test_no_limit_and_no_estimate_means_no_cap():
    assert max_messages_per_partition({"p0": 50}, 1000, 0.0, 1, None) is None


def test_max_rate_caps_each_partition_by_rate_times_batch_seconds():
    assert max_messages_per_partition({"p0": 50, "p1": 0}, 2000, 10.0, 1, None) == {"p0": 20, "p1": 20}


def test_an_estimated_rate_is_shared_in_proportion_to_lag_and_capped_by_max_rate():
    caps = max_messages_per_partition({"p0": 300, "p1": 100}, 1000, 250.0, 1, 400.0)
    assert caps == {"p0": 250, "p1": 100}   # shares 300 and 100; p0 capped at 250
    assert max_messages_per_partition({"p0": 300, "p1": 100}, 500, 0.0, 1, 400.0) == {"p0": 150, "p1": 50}


def test_every_partition_may_take_at_least_min_rate_per_batch():
    assert max_messages_per_partition({"p0": 1000, "p1": 1}, 1000, 0.0, 5, 10.0) == {"p0": 9, "p1": 5}
