"""saveToKafka: every record of a batch is acknowledged by the broker before
the batch completes; a record the broker does not take fails the batch."""
from __future__ import annotations

import pytest

from fluvial.streaming import BatchFailedError, StreamingContext
from fluvial.streaming.kafka import KafkaDeliveryError, KafkaUtils, saveToKafka
from fluvial.testing import ManualClock, queue_source


def exact(broker, **extra):
    """Producer settings that send each record as a batch of its own (tansu
    reports exact end offsets only for those; see kafka_support)."""
    return {"bootstrap.servers": broker.bootstrap, "batch.num.messages": 1, "linger.ms": 0, **extra}


@pytest.fixture
def ssc(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    yield ssc
    ssc.stop(stopSparkContext=False)


def test_each_batch_is_in_the_topic_when_the_batch_completes(broker, ssc):
    out = broker.topic("sink")
    words = queue_source(ssc, [["apple", "banana"], ["cherry"]], numSlices=2)
    saveToKafka(words, out, exact(broker), keyFunc=lambda w: w[0])
    ssc.start()
    ssc.clock.advance(1)
    assert sorted((k, v) for _, _, k, v, _ in broker.read_all(out)) == [(b"a", b"apple"), (b"b", b"banana")]
    ssc.clock.advance(1)
    assert sorted(v for *_, v, _ in broker.read_all(out)) == [b"apple", b"banana", b"cherry"]


def test_kafka_to_kafka_transforms_every_record_once(broker, ssc):
    src, dst = broker.topic("k2k-in", partitions=3), broker.topic("k2k-out")
    broker.produce(src, [(i % 3, str(i), f"event {i}") for i in range(30)])
    stream = KafkaUtils.createDirectStream(ssc, [src], {"bootstrap.servers": broker.bootstrap,
                                                        "auto.offset.reset": "earliest"})
    saveToKafka(stream.map(lambda kv: kv[1].upper().encode()), dst, exact(broker))
    ssc.start()
    ssc.clock.advance(2)
    assert sorted(v for *_, v, _ in broker.read_all(dst)) == sorted(f"EVENT {i}".encode() for i in range(30))


def test_records_that_are_not_str_or_bytes_fail_the_batch_with_their_type(broker, ssc):
    saveToKafka(queue_source(ssc, [[1, 2]]), broker.topic("sink-types"), {"bootstrap.servers": broker.bootstrap})
    ssc.start()
    ssc.clock.advance(1)
    with pytest.raises(BatchFailedError, match="a record must be str or bytes .*got int [12]; map records"):
        ssc.awaitTermination(10)


def test_records_the_broker_does_not_acknowledge_fail_the_batch(broker, ssc):
    out = broker.topic("sink-fail")
    saveToKafka(queue_source(ssc, [["lost?"]]), out, {"bootstrap.servers": broker.bootstrap,
                                                      "message.timeout.ms": 300})
    ssc.start()
    with broker.paused():
        ssc.clock.advance(1)   # returns once the batch has failed
    with pytest.raises(BatchFailedError) as info:
        ssc.awaitTermination(10)
    assert isinstance(info.value.__cause__, KafkaDeliveryError)
    assert f"1 of 1 record(s) sent to topic {out!r} were not delivered: Local: Message timed out" \
        in str(info.value.__cause__)


def test_bad_arguments_are_named(broker, ssc):
    words = queue_source(ssc, [["a"]])
    with pytest.raises(ValueError, match="producerConf must be a dict with 'bootstrap.servers'"):
        saveToKafka(words, "t", {})
    with pytest.raises(ValueError, match="topic must be a non-empty str"):
        saveToKafka(words, "", {"bootstrap.servers": broker.bootstrap})
