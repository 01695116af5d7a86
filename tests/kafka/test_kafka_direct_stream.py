"""The direct stream against a real broker: offset ranges per batch, starting
positions, message metadata, commits, and batches re-read from recorded ranges."""
from __future__ import annotations

import pickle
import re
import time

import cloudpickle
import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import (KafkaMessageAndMetadata, KafkaUnavailableError, KafkaUtils, OffsetRange,
                                     TopicAndPartition)
from fluvial.testing import ListSink, ManualClock


@pytest.fixture
def ssc(sc):
    clock = ManualClock()
    ssc = StreamingContext(sc, 1, clock=clock)
    yield ssc
    ssc.stop(stopSparkContext=False)


def params(broker, **extra):
    return {"bootstrap.servers": broker.bootstrap, **extra}


def ranges_sink(stream):
    """Collect each batch's offset ranges (taken from the batch RDD itself)."""
    seen: list[list[OffsetRange]] = []
    stream.foreachRDD(lambda rdd: seen.append(rdd.offsetRanges()))
    return seen


def test_each_batch_reads_exactly_the_records_produced_since_the_previous_batch(broker, ssc):
    topic = broker.topic("multi", partitions=3)
    broker.produce(topic, [(i % 3, f"k{i}", f"v{i}") for i in range(12)])
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker, **{"auto.offset.reset": "smallest"}))
    sink = ListSink(stream)
    ranges = ranges_sink(stream)
    ssc.start()
    ssc.clock.advance(1)
    broker.produce(topic, [(i % 3, f"k{i}", f"v{i}") for i in range(12, 17)])
    ssc.clock.advance(1)
    ssc.clock.advance(1)
    assert sorted(sink.batches[0]) == sorted((f"k{i}", f"v{i}") for i in range(12))
    assert sorted(sink.batches[1]) == sorted((f"k{i}", f"v{i}") for i in range(12, 17))
    assert sink.batches[2] == []
    assert ranges[0] == [OffsetRange(topic, p, 0, 4) for p in range(3)]
    assert ranges[1] == [OffsetRange(topic, 0, 4, 6), OffsetRange(topic, 1, 4, 6), OffsetRange(topic, 2, 4, 5)]
    assert ranges[2] == [OffsetRange(topic, 0, 6, 6), OffsetRange(topic, 1, 6, 6), OffsetRange(topic, 2, 5, 5)]
    # within a partition, records keep their offset order
    part0 = [v for k, v in sink.batches[0] if int(k[1:]) % 3 == 0]
    assert part0 == ["v0", "v3", "v6", "v9"]


def test_default_start_is_the_latest_offset(broker, ssc):
    topic = broker.topic("latest", partitions=2)
    broker.produce(topic, [(0, None, "old"), (1, None, "old")])
    sink = ListSink(KafkaUtils.createDirectStream(ssc, [topic], params(broker)))
    ssc.start()
    broker.produce(topic, [(1, None, "new")])
    ssc.clock.advance(1)
    assert sink.batches == [[(None, "new")]]


def test_from_offsets_start_each_named_partition_there(broker, ssc):
    topic = broker.topic("from", partitions=2)
    broker.produce(topic, [(p, None, f"{p}:{i}") for p in range(2) for i in range(5)])
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], params(broker, **{"auto.offset.reset": "largest"}),
        fromOffsets={TopicAndPartition(topic, 0): 3, (topic, 1): 1})
    sink = ListSink(stream)
    ssc.start()
    ssc.clock.advance(1)
    assert sorted(sink.batches[0]) == [(None, "0:3"), (None, "0:4"), (None, "1:1"), (None, "1:2"), (None, "1:3"),
                                       (None, "1:4")]


def test_from_offsets_outside_the_log_fail_at_start(broker, sc):
    topic = broker.topic("outside", partitions=1)
    broker.produce(topic, ["a", "b"], partition=0)
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker), fromOffsets={TopicAndPartition(topic, 0): 7})
    stream.foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=rf"fromOffsets\[{topic}-0\] = 7 is outside .* \[0, 2\]"):
        ssc.start()
    assert ssc.getState() == "STOPPED"


def test_message_handler_sees_position_key_value_timestamp_and_headers(broker, ssc):
    topic = broker.topic("meta", partitions=2)
    before = int(time.time() * 1000)
    broker.produce(topic, [(1, "key", "value")], headers=[("trace", b"42")])
    seen = []
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], params(broker, **{"auto.offset.reset": "earliest"}),
        messageHandler=lambda m: (m.topic, m.partition, m.offset, m.key, m.message, m.value, m.timestamp,
                                  m.headers, type(m).__name__))
    sink = ListSink(stream)
    ssc.start()
    ssc.clock.advance(1)
    [(t, p, off, key, message, value, ts, headers, kind)] = sink.batches[0]
    assert (t, p, off, key, message, value, headers, kind) == (
        topic, 1, 0, "key", "value", "value", [("trace", b"42")], "KafkaMessageAndMetadata")
    assert before - 60_000 <= ts <= int(time.time() * 1000) + 60_000


def test_custom_decoders_apply_to_key_and_value(broker, ssc):
    topic = broker.topic("decoders")
    broker.produce(topic, [(0, b"\x01", b"\x00\x07")])
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker, **{"auto.offset.reset": "earliest"}),
                                           keyDecoder=lambda b: b[0], valueDecoder=lambda b: int.from_bytes(b, "big"))
    sink = ListSink(stream)
    ssc.start()
    ssc.clock.advance(1)
    assert sink.batches == [[(1, 7)]]


def test_commit_async_stores_progress_where_a_new_stream_of_the_group_starts(broker, sc):
    topic = broker.topic("commit", partitions=2)
    group = f"group-{topic}"
    broker.produce(topic, [(i % 2, None, str(i)) for i in range(6)])
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker, **{"group.id": group,
                                                                          "auto.offset.reset": "earliest"}))
    results = []
    stream.foreachRDD(lambda rdd: stream.commitAsync(rdd.offsetRanges(),
                                                     lambda offsets, err: results.append((offsets, err))))
    ssc.start()
    ssc.clock.advance(1)                 # reads 0..2 of each partition, queues the commit
    broker.produce(topic, [(0, None, "6")])
    ssc.clock.advance(1)                 # commits batch 1's offsets, reads "6", queues it
    assert broker.committed(group, topic, 2) == [3, 3]
    ssc.stop(stopSparkContext=False)     # stopping commits what is queued
    assert broker.committed(group, topic, 2) == [4, 3]
    assert [err for _, err in results] == [None, None]
    assert results[0][0] == {(topic, 0): 3, (topic, 1): 3}

    broker.produce(topic, [(1, None, "7")])
    ssc2 = StreamingContext(sc, 1, clock=ManualClock())
    sink = ListSink(KafkaUtils.createDirectStream(ssc2, [topic], params(broker, **{"group.id": group,
                                                                                  "auto.offset.reset": "earliest"})))
    ssc2.start()
    ssc2.clock.advance(1)
    ssc2.stop(stopSparkContext=False)
    assert sink.batches == [[(None, "7")]]


def test_commit_offsets_needs_a_group(broker, ssc):
    topic = broker.topic("nogroup")
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker))
    with pytest.raises(ValueError, match="set 'group.id' in kafkaParams"):
        stream.commitOffsets([OffsetRange(topic, 0, 0, 1)])


def test_a_recorded_batch_reads_the_same_records_after_a_pickle_round_trip(broker, ssc):
    topic = broker.topic("replay", partitions=2)
    broker.produce(topic, [(i % 2, None, str(i)) for i in range(8)])
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(broker, **{"auto.offset.reset": "earliest",
                                                                          "fluvial.onDecodeError": "skip"}))
    sink = ListSink(stream)
    ssc.start()
    ssc.clock.advance(1)
    broker.produce(topic, [(0, None, "late")])  # after batch 1: a re-run of batch 1 must not see it
    t1 = sink.times[0]
    restored = cloudpickle.loads(cloudpickle.dumps(stream))
    assert restored._client is None if hasattr(restored, "_client") else True
    restored._restore(ssc)
    assert restored._ranges[t1] == stream._ranges[t1] == [OffsetRange(topic, 0, 0, 4), OffsetRange(topic, 1, 0, 4)]
    assert restored._next == {(topic, 0): 4, (topic, 1): 4}
    assert sorted(restored._compute(t1).collect()) == sorted(sink.batches[0])
    restored.stop()


def test_offset_range_is_a_picklable_value():
    r = OffsetRange("t", 2, 5, 9)
    assert pickle.loads(pickle.dumps(r)) == r and r.count() == 4
    assert str(r) == "OffsetRange(topic: t, partition: 2, range: [5 -> 9])"
    assert r.topicAndPartition() == TopicAndPartition("t", 2)
    with pytest.raises(ValueError, match="untilOffset 1 is before fromOffset 2"):
        OffsetRange("t", 0, 2, 1)


def test_message_pickles_with_its_decoders():
    m = KafkaMessageAndMetadata("t", 0, 3, b"k", b"v", 17, 1, [("h", b"x")])._set_value_decoder(lambda b: b.upper())
    back = cloudpickle.loads(cloudpickle.dumps(m))
    assert (back.key, back.message, back.timestamp, back.headers) == ("k", b"V", 17, [("h", b"x")])


def test_a_topic_that_does_not_exist_fails_start(broker, sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    KafkaUtils.createDirectStream(ssc, ["no-such-topic"], params(broker)).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=re.escape("topic(s) ['no-such-topic'] do not exist")):
        ssc.start()


def test_unreachable_brokers_fail_start_after_the_configured_time(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    port_nobody_listens_on = "127.0.0.1:1"
    stream = KafkaUtils.createDirectStream(ssc, ["t"], {"bootstrap.servers": port_nobody_listens_on,
                                                        "fluvial.startTimeout.ms": 300})
    stream.foreachRDD(lambda rdd: None)
    began = time.monotonic()
    with pytest.raises(KafkaUnavailableError, match=r"could not list topics from Kafka brokers 127\.0\.0\.1:1 "
                                                    r"within 0\.3 s \(kafkaParams 'fluvial\.startTimeout\.ms'\)"):
        ssc.start()
    assert time.monotonic() - began < 30  # bounded (the limit asserted is generous: never wall-clock speed)


@pytest.mark.parametrize("bad, message", [
    ({}, "kafkaParams must name the brokers"),
    ({"bootstrap.servers": "x:1", "fluvial.onDecodeError": "ignore"}, "use 'fail', 'skip' or 'deadletter:<topic>'"),
    ({"bootstrap.servers": "x:1", "fluvial.nope": 1}, r"unknown fluvial option\(s\) in kafkaParams: \['fluvial.nope'\]"),
    ({"bootstrap.servers": "x:1", "auto.offset.reset": "middle"}, "auto.offset.reset'] is 'middle'"),
    ({"bootstrap.servers": "x:1", "key.deserializer": "java"}, "kafkaParams: the Kafka client rejected them"),
])
def test_bad_kafka_params_are_named(ssc, bad, message):
    with pytest.raises(ValueError, match=message):
        KafkaUtils.createDirectStream(ssc, ["t"], bad)


def test_topics_must_be_a_list(ssc, broker):
    with pytest.raises(TypeError, match="topics should be a non-empty list"):
        KafkaUtils.createDirectStream(ssc, "topic", params(broker))
