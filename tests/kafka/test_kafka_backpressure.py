"""Backpressure on a direct stream: the first batches take
spark.streaming.backpressure.initialRate, shared by lag; later ones the PID
estimate, always within maxRatePerPartition; nothing is lost or repeated."""
from __future__ import annotations

import pytest

from support import EXECUTORS, make_context

from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils
from fluvial.testing import ListSink, ManualClock


@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request):
    context = make_context(request.param, **{"spark.streaming.backpressure.enabled": "true",
                                             "spark.streaming.backpressure.initialRate": "8",
                                             "spark.streaming.kafka.maxRatePerPartition": "5"})
    yield context
    context.stop()


def test_backpressure_drains_a_backlog_in_bounded_batches(broker, sc):
    topic = broker.topic("backpressure", partitions=2)
    broker.produce(topic, [(0, None, f"a{i}") for i in range(30)] + [(1, None, f"b{i}") for i in range(10)])
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], {"bootstrap.servers": broker.bootstrap,
                                                          "auto.offset.reset": "earliest"})
    sizes = []
    stream.foreachRDD(lambda rdd: sizes.append([r.count() for r in rdd.offsetRanges()]))
    sink = ListSink(stream.map(lambda kv: kv[1]))
    ssc.start()
    ssc.clock.advance(12)
    rate = stream._rate_controller.getLatestRate()
    ssc.stop(stopSparkContext=False)
    # initial rate 8/s shared 30:10 by lag -> 6 and 2, the 6 capped by maxRatePerPartition at 5
    assert sizes[0] == [5, 2]
    assert all(n <= 5 for batch in sizes for n in batch)
    read = [v for batch in sink.batches for v in batch]
    assert sorted(read) == sorted([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(10)])
    assert rate >= 100  # the estimator has published (its minimum rate is 100/s)
