"""KafkaRDD: one partition per offset range, read inside the task.

Each task creates its own confluent-kafka consumer, ``assign``s its partition
at ``fromOffset`` and consumes until ``untilOffset``; nothing but the plain
range description travels to the task, so it runs alike in the driver and in
worker processes. Reading a range twice yields the same records in the same
(offset) order: a recomputed or re-run batch sees exactly what it saw before.

A range whose records are no longer in the log fails the task (the consumer
never jumps to another offset); so does a broker silent for longer than
``spark.streaming.kafka.consumer.poll.ms`` (default 120 s) — a shorter
outage only stalls the task, which then carries on where it was.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator, Sequence

from ...core.accumulators import AccumulatorParam
from ...core.rdd import RDD
from .errors import KafkaDecodeError, KafkaDeliveryError, KafkaReadError
from .message import KafkaMessageAndMetadata, decode_field
from .offsets import OffsetRange
from .params import DecodeErrorPolicy
from .producers import forget_producer, shared_producer, wait_answered

__all__ = ["KafkaRDD", "PartitionCounts"]

log = logging.getLogger("fluvial.kafka")
_BATCH = 10_000  # records asked of the client per consume() call


class PartitionCounts(AccumulatorParam):
    """Per ``topic-partition`` counts of records left out. A range always
    leaves out the same records, so a recomputed partition overwrites its
    count instead of adding to it."""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, value1: dict, value2: dict) -> dict:
        value1.update(value2)
        return value1


class KafkaRDD(RDD):
    """Records of the given offset ranges (one partition each, in the order
    given). ``offsetRanges()`` lists them, as PySpark's KafkaRDD does."""

    def __init__(self, ctx: Any, consumer_conf: dict, ranges: Sequence[OffsetRange],
                 keyDecoder: Callable[[Any], Any], valueDecoder: Callable[[Any], Any],
                 messageHandler: Callable[[KafkaMessageAndMetadata], Any] | None,
                 policy: DecodeErrorPolicy, producer_conf: dict, poll_timeout_s: float,
                 left_out: Any = None) -> None:
        super().__init__(ctx, [], len(ranges))
        self._conf = consumer_conf
        self._ranges = list(ranges)
        self._key_decoder = keyDecoder
        self._value_decoder = valueDecoder
        self._handler = messageHandler
        self._policy = policy
        self._producer_conf = producer_conf
        self._poll_timeout_s = poll_timeout_s
        self._left_out = left_out  # accumulator of PartitionCounts, or None

    def offsetRanges(self) -> list[OffsetRange]:
        return list(self._ranges)

    def compute(self, split: int, tctx: Any) -> Iterator:
        r = self._ranges[split]
        if r.fromOffset >= r.untilOffset:
            return iter(())
        return _RangeReader(self, r).records()


class _RangeReader:
    def __init__(self, rdd: KafkaRDD, r: OffsetRange) -> None:
        self.rdd = rdd
        self.r = r
        self.left_out = 0
        self._producer: Any = None
        self._dead_errors: list[str] = []
        self._dead_answered = [0]
        self._dead_sent = 0

    def records(self) -> Iterator:
        from confluent_kafka import Consumer, TopicPartition

        r, rdd = self.r, self.rdd
        consumer = Consumer(rdd._conf)
        try:
            tp = TopicPartition(r.topic, r.partition, r.fromOffset)
            consumer.assign([tp])
            convert = self._converter()
            next_offset = r.fromOffset
            last_progress = time.monotonic()
            while next_offset < r.untilOffset:
                msgs = consumer.consume(min(_BATCH, r.untilOffset - next_offset), 0.5)
                if not msgs:
                    pos = consumer.position([TopicPartition(r.topic, r.partition)])[0].offset
                    if pos >= r.untilOffset:  # the rest of the range holds no records (compaction, markers)
                        break
                    if time.monotonic() - last_progress > rdd._poll_timeout_s:
                        raise KafkaReadError(
                            f"no records of {r} arrived for {rdd._poll_timeout_s:g} s (next offset "
                            f"{next_offset}); is the broker up? (spark.streaming.kafka.consumer.poll.ms)")
                    continue
                last_progress = time.monotonic()
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        self._on_client_error(err, next_offset)
                        continue
                    off = m.offset()
                    if off < next_offset:
                        continue
                    if off >= r.untilOffset:
                        next_offset = r.untilOffset
                        break
                    next_offset = off + 1
                    try:
                        rec = convert(m)
                    except KafkaDecodeError as exc:
                        self._left_out_record(m, exc)
                        continue
                    yield rec
            self._finish()
        finally:
            consumer.close()

    def _converter(self) -> Callable[[Any], Any]:
        rdd, r = self.rdd, self.r
        kd, vd, handler = rdd._key_decoder, rdd._value_decoder, rdd._handler
        topic, partition = r.topic, r.partition

        if handler is None:
            def convert(m: Any) -> Any:
                try:
                    return kd(m.key()), vd(m.value())
                except Exception:  # noqa: BLE001 - re-decoded below to say which field failed
                    return (decode_field(kd, m.key(), "key", topic, partition, m.offset()),
                            decode_field(vd, m.value(), "value", topic, partition, m.offset()))
            return convert

        def convert_with_handler(m: Any) -> Any:
            ttype, ts = m.timestamp()
            meta = KafkaMessageAndMetadata(topic, partition, m.offset(), m.key(), m.value(),
                                           ts if ttype else None, ttype, m.headers())
            return handler(meta._set_key_decoder(kd)._set_value_decoder(vd))
        return convert_with_handler

    def _on_client_error(self, err: Any, next_offset: int) -> None:
        from confluent_kafka import KafkaError

        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
            raise KafkaReadError(f"offset {next_offset} of {self.r} is not in the log (deleted by retention, "
                                 f"or the topic was re-created): {err.str()}")
        if err.fatal() or not (err.retriable() or code in _transient_codes()):
            raise KafkaReadError(f"reading {self.r} failed at offset {next_offset}: {err.str()}")
        log.debug("reading %s: transient client error %s", self.r, err.str())

    def _left_out_record(self, m: Any, exc: KafkaDecodeError) -> None:
        policy = self.rdd._policy
        if policy.mode == "fail":
            raise exc
        self.left_out += 1
        if policy.mode == "skip":
            log.warning("skipped an undecodable record: %s", exc)
            return
        self._dead_letter(m, exc)
        log.warning("sent an undecodable record to dead-letter topic %r: %s", policy.topic, exc)

    def _dead_letter(self, m: Any, exc: KafkaDecodeError) -> None:
        if self._producer is None:
            self._producer = shared_producer(self.rdd._producer_conf)
        errors, answered = self._dead_errors, self._dead_answered

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(err.str())
            answered[0] += 1

        headers = list(m.headers() or []) + [
            ("fluvial.source.topic", exc.topic.encode()), ("fluvial.source.partition", str(exc.partition).encode()),
            ("fluvial.source.offset", str(exc.offset).encode()), ("fluvial.error", str(exc).encode())]
        while True:
            try:
                self._producer.produce(self.rdd._policy.topic, m.value(), m.key(), headers=headers,
                                       on_delivery=delivered)
                break
            except BufferError:
                self._producer.poll(0.1)
        self._dead_sent += 1
        self._producer.poll(0)

    def _finish(self) -> None:
        """The range is read: dead letters are acknowledged, and what was left
        out is counted for the driver."""
        r, rdd = self.r, self.rdd
        if self._producer is not None:
            wait_answered(self._producer, self._dead_answered, self._dead_sent)
            if self._dead_errors:
                forget_producer(self._producer)
                raise KafkaDeliveryError(
                    f"{len(self._dead_errors)} undecodable record(s) of {r} could not be sent to "
                    f"dead-letter topic {rdd._policy.topic!r}: {self._dead_errors[0]}")
        if rdd._left_out is not None and rdd._policy.mode != "fail":
            rdd._left_out.add({f"{r.topic}-{r.partition}": self.left_out})


def _transient_codes() -> tuple:
    from confluent_kafka import KafkaError
    return (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
            KafkaError._RESOLVE, KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION)
