"""subscribePattern: topics whose names match, including topics created while
the stream runs (their partitions join from their earliest offset). tansu 0.6
cannot add partitions to a topic (no CreatePartitions), so a grown topic is
not tested here; the stream treats its new partitions as those of a new topic."""
from __future__ import annotations

import re
import uuid

import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils
from fluvial.testing import ListSink, ManualClock


@pytest.fixture
def ssc(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    yield ssc
    ssc.stop(stopSparkContext=False)


def test_topics_and_partitions_created_later_join_the_stream(broker, ssc):
    prefix = f"pat{uuid.uuid4().hex[:8]}"
    first = f"{prefix}-first"
    broker.create(first, 1)
    broker.create(f"other{prefix}", 1)  # does not match: the pattern must match the whole name
    broker.produce(first, [(0, None, "f0")])
    broker.produce(f"other{prefix}", [(0, None, "nope")])
    stream = KafkaUtils.subscribePattern(ssc, rf"{prefix}-.*", {"bootstrap.servers": broker.bootstrap,
                                                                  "auto.offset.reset": "earliest"})
    topics_seen = []
    stream.foreachRDD(lambda rdd: topics_seen.append(sorted({(r.topic, r.partition) for r in rdd.offsetRanges()})))
    sink = ListSink(stream.map(lambda kv: kv[1]))
    ssc.start()
    ssc.clock.advance(1)
    second = f"{prefix}-second"
    broker.create(second, 2)
    broker.produce(second, [(0, None, "s0"), (1, None, "s1")])
    broker.produce(first, [(0, None, "f1")])
    ssc.clock.advance(1)
    assert sink.batches == [["f0"], sorted(sink.batches[1])] and sorted(sink.batches[1]) == ["f1", "s0", "s1"]
    assert topics_seen == [[(first, 0)], [(first, 0), (second, 0), (second, 1)]]


def test_no_matching_topic_at_start_is_not_an_error(broker, ssc):
    prefix = f"later{uuid.uuid4().hex[:8]}"
    sink = ListSink(KafkaUtils.createDirectStream(ssc, re.compile(rf"{prefix}\d"),
                                                  {"bootstrap.servers": broker.bootstrap}))
    ssc.start()
    ssc.clock.advance(1)
    broker.create(f"{prefix}1", 1)
    broker.produce(f"{prefix}1", [(0, "k", "v")])
    ssc.clock.advance(1)
    assert sink.batches == [[], [("k", "v")]]
