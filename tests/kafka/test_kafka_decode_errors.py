"""A record the decoder cannot decode: the batch fails naming topic, partition
and offset (default), or the record is skipped and counted, or sent to a
dead-letter topic with headers saying where it came from."""
from __future__ import annotations

import pytest

from fluvial.streaming import BatchFailedError, StreamingContext, StreamingListener
from fluvial.streaming.kafka import KafkaDecodeError, KafkaUtils
from fluvial.testing import ListSink, ManualClock

BAD = b"\xff\xfe not utf-8"


class InputInfos(StreamingListener):
    def __init__(self) -> None:
        self.infos = []

    def onBatchCompleted(self, batchCompleted):
        self.infos.append(batchCompleted.batchInfo().streamIdToInputInfo())


def run_batch(sc, broker, topic, mode=None, handler=None):
    params = {"bootstrap.servers": broker.bootstrap, "auto.offset.reset": "earliest"}
    if mode is not None:
        params["fluvial.onDecodeError"] = mode
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], params, messageHandler=handler)
    sink = ListSink(stream)
    listener = InputInfos()
    ssc.addStreamingListener(listener)
    ssc.start()
    ssc.clock.advance(1)
    return ssc, stream, sink, listener


@pytest.fixture
def mixed_topic(broker):
    topic = broker.topic("decode", partitions=2)
    broker.produce(topic, [(0, None, "ok0"), (0, None, BAD), (0, None, "ok1"), (1, "k", "ok2"), (1, BAD, "ok3")])
    return topic


def test_undecodable_value_fails_the_batch_naming_topic_partition_and_offset(sc, broker, mixed_topic):
    ssc, _, sink, _ = run_batch(sc, broker, mixed_topic)
    try:
        with pytest.raises(BatchFailedError) as info:
            ssc.awaitTermination(10)
        cause = info.value.__cause__
        assert isinstance(cause, KafkaDecodeError)
        assert (cause.topic, cause.partition, cause.offset) in {(mixed_topic, 0, 1), (mixed_topic, 1, 1)}
        assert f"at topic {mixed_topic!r} partition {cause.partition} offset 1 with utf8_decoder" in str(cause)
        assert "UnicodeDecodeError" in str(cause) and "fluvial.onDecodeError" in str(cause)
        assert sink.batches == []
    finally:
        ssc.stop(stopSparkContext=False)


def test_undecodable_key_is_reported_as_the_key(sc, broker):
    topic = broker.topic("badkey")
    broker.produce(topic, [(0, BAD, "fine")])
    ssc, _, _, _ = run_batch(sc, broker, topic)
    try:
        with pytest.raises(BatchFailedError, match=rf"cannot decode the key of the record at topic '{topic}' "
                                                   r"partition 0 offset 0"):
            ssc.awaitTermination(10)
    finally:
        ssc.stop(stopSparkContext=False)


def test_skip_leaves_undecodable_records_out_and_counts_them_per_partition(sc, broker, mixed_topic):
    ssc, stream, sink, listener = run_batch(sc, broker, mixed_topic, "skip")
    ssc.stop(stopSparkContext=False)
    assert sorted(sink.batches[0], key=repr) == sorted([(None, "ok0"), (None, "ok1"), ("k", "ok2")], key=repr)
    info = listener.infos[0][stream.id]
    assert info.numRecords() == 5        # offsets read, as Spark reports them
    assert info.metadata()["undecodable"] == {f"{mixed_topic}-0": 1, f"{mixed_topic}-1": 1}


def test_skip_applies_to_decoding_inside_a_message_handler(sc, broker, mixed_topic):
    ssc, _, sink, _ = run_batch(sc, broker, mixed_topic, "skip", handler=lambda m: (m.offset, m.message))
    ssc.stop(stopSparkContext=False)
    assert sorted(sink.batches[0]) == [(0, "ok0"), (0, "ok2"), (1, "ok3"), (2, "ok1")]


def test_dead_letter_sends_the_raw_record_with_its_origin_and_goes_on(sc, broker, mixed_topic):
    dead = broker.topic("dead")
    ssc, stream, sink, listener = run_batch(sc, broker, mixed_topic, f"deadletter:{dead}")
    ssc.stop(stopSparkContext=False)
    assert sorted(sink.batches[0], key=repr) == sorted([(None, "ok0"), (None, "ok1"), ("k", "ok2")], key=repr)
    assert listener.infos[0][stream.id].metadata()["undecodable"] == {f"{mixed_topic}-0": 1, f"{mixed_topic}-1": 1}
    letters = sorted(broker.read_all(dead), key=lambda rec: dict(rec[4])["fluvial.source.partition"])
    assert [(key, value) for _, _, key, value, _ in letters] == [(None, BAD), (BAD, b"ok3")]
    headers = [dict(h) for *_, h in letters]
    assert [(h["fluvial.source.topic"], h["fluvial.source.partition"], h["fluvial.source.offset"])
            for h in headers] == [(mixed_topic.encode(), b"0", b"1"), (mixed_topic.encode(), b"1", b"1")]
    assert b"UnicodeDecodeError" in headers[0]["fluvial.error"]
