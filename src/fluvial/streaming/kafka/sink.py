"""saveToKafka: write every batch of a DStream to a Kafka topic.

Each task of a batch sends its partition's records through an idempotent
producer (one per process and configuration, kept between batches) (``enable.idempotence``: the broker drops the duplicates a client
retry would make) and waits until the broker has acknowledged every one —
``flush`` — before the task ends; so a batch is marked done only when all its
records are in Kafka. A record the broker refuses, or one not acknowledged
within the producer's ``message.timeout.ms``, fails the task and thus the
batch, with a :class:`KafkaDeliveryError` naming the topic and the broker's
reason.

Guarantee: at-least-once. A batch that is re-run (after a failure, or after a
driver restart from a checkpoint) sends its records again; consumers that
need exactly-once should de-duplicate, e.g. by a key derived from the record.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping

from ..dstream import DStream
from .errors import KafkaDeliveryError
from .producers import forget_producer, shared_producer, wait_answered

__all__ = ["saveToKafka"]


def saveToKafka(dstream: DStream, topic: str, producerConf: Mapping[str, Any],
                keyFunc: Callable[[Any], Any] | None = None) -> None:
    """Send each record of every batch of ``dstream`` to ``topic``: the
    record is the message value (``str`` is sent as UTF-8, ``bytes`` as is,
    ``None`` as a null value); ``keyFunc(record)``, if given, is its key
    (same types). ``producerConf`` is confluent-kafka's producer
    configuration (``bootstrap.servers`` at least); idempotence is on unless
    it sets ``enable.idempotence`` to False.

    An output operation, like ``foreachRDD``: call it before the context starts.

    >>> saveToKafka(counts.map(lambda kv: f"{kv[0]},{kv[1]}"), "counts",
    ...             {"bootstrap.servers": "127.0.0.1:9092"}, keyFunc=lambda s: s.split(",")[0])
    """
    if not isinstance(dstream, DStream):
        raise TypeError(f"saveToKafka: dstream must be a DStream, got {type(dstream).__name__}")
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"saveToKafka: topic must be a non-empty str, got {topic!r}")
    if not isinstance(producerConf, Mapping) or not producerConf.get("bootstrap.servers"):
        raise ValueError("saveToKafka: producerConf must be a dict with 'bootstrap.servers'")
    if keyFunc is not None and not callable(keyFunc):
        raise TypeError(f"saveToKafka: keyFunc must be callable or None, got {keyFunc!r}")
    conf = dict(producerConf)
    conf.setdefault("enable.idempotence", True)
    send = functools.partial(_send_partition, topic, conf, keyFunc)
    dstream.foreachRDD(lambda rdd: rdd.foreachPartition(send))


def _encode(x: Any, what: str, topic: str) -> bytes | None:
    if x is None or isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"saveToKafka to {topic!r}: a {what} must be str or bytes (or None), got "
                    f"{type(x).__name__} {x!r:.80}; map records to str or bytes first")


def _send_partition(topic: str, conf: dict, keyFunc: Callable[[Any], Any] | None, records: Iterable[Any]) -> None:
    from confluent_kafka import KafkaException

    producer = None
    failures: list[str] = []
    answered = [0]
    sent = 0

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(err.str())
        answered[0] += 1

    for record in records:
        if producer is None:  # a partition with no records opens no connection
            try:
                producer = shared_producer(conf)
            except KafkaException as exc:
                raise ValueError(f"saveToKafka: the Kafka client rejected producerConf: {exc}") from exc
        value = _encode(record, "record", topic)
        key = _encode(keyFunc(record), "key", topic) if keyFunc is not None else None
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the client's queue is full: let it send, then retry
                producer.poll(0.05)
        sent += 1
        producer.poll(0)
        if failures:
            break
    if producer is None:
        return
    wait_answered(producer, answered, sent)
    if failures:
        forget_producer(producer)
        raise KafkaDeliveryError(f"saveToKafka: {len(failures)} of {sent} record(s) sent to topic "
                                 f"{topic!r} were not delivered: {failures[0]}")
