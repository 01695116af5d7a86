"""KafkaUtils: PySpark 2.4's entry points for Kafka, on confluent-kafka."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .dstream import DirectKafkaInputDStream
from .message import KafkaMessageAndMetadata, utf8_decoder
from .offsets import OffsetRange
from .params import KafkaParams
from .rdd import KafkaRDD

if TYPE_CHECKING:
    from ...core.context import SparkContext
    from ..context import StreamingContext

__all__ = ["KafkaUtils"]

Decoder = Callable[[Any], Any]
Handler = Callable[[KafkaMessageAndMetadata], Any]


class KafkaUtils:
    @staticmethod
    def createDirectStream(ssc: "StreamingContext", topics: Sequence[str] | re.Pattern,
                           kafkaParams: Mapping[str, Any], fromOffsets: Mapping[Any, int] | None = None,
                           keyDecoder: Decoder = utf8_decoder, valueDecoder: Decoder = utf8_decoder,
                           messageHandler: Handler | None = None) -> DirectKafkaInputDStream:
        """A stream whose every batch reads a fixed offset range of each
        partition of ``topics`` (a list of names, or a compiled ``re.Pattern``
        matched against whole topic names, see :meth:`subscribePattern`).

        Records are ``(keyDecoder(key), valueDecoder(value))``, or
        ``messageHandler(m)`` of a :class:`KafkaMessageAndMetadata` ``m``. A
        partition starts at ``fromOffsets[TopicAndPartition(topic, p)]``, else
        at the offset committed by ``group.id``, else per
        ``auto.offset.reset`` (``largest`` by default); partitions that appear
        later start at their earliest offset. Topics listed by name must
        exist when the context starts.

        Exactly-once: each batch's ranges are fixed when it is generated and
        kept with the stream's checkpointed state, so a batch recomputed or
        re-run after a driver restart reads the same records; per-batch
        idempotent output then gives exactly-once results. Every batch RDD
        has ``offsetRanges()``; ``stream.commitAsync(ranges)`` stores
        progress in Kafka instead (at-least-once). See ``docs/kafka.md``."""
        if isinstance(topics, re.Pattern):
            subscription: list[str] | re.Pattern = topics
        elif isinstance(topics, (list, tuple)) and topics and all(isinstance(t, str) and t for t in topics):
            subscription = list(dict.fromkeys(topics))
        else:
            raise TypeError(f"topics should be a non-empty list of topic names (or a re.Pattern), got {topics!r}")
        return DirectKafkaInputDStream(ssc, subscription, kafkaParams, fromOffsets, keyDecoder, valueDecoder,
                                       messageHandler)

    @staticmethod
    def subscribePattern(ssc: "StreamingContext", pattern: str | re.Pattern, kafkaParams: Mapping[str, Any],
                         fromOffsets: Mapping[Any, int] | None = None, keyDecoder: Decoder = utf8_decoder,
                         valueDecoder: Decoder = utf8_decoder,
                         messageHandler: Handler | None = None) -> DirectKafkaInputDStream:
        """A direct stream over every topic whose whole name matches
        ``pattern`` (fluvial's counterpart of Spark's ``SubscribePattern``).
        The topic list is refreshed on the driver at every batch: topics and
        partitions created later join the stream from their earliest offset.
        No matching topic at start is not an error."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        if not isinstance(compiled, re.Pattern):
            raise TypeError(f"pattern should be a str or re.Pattern, got {pattern!r}")
        return KafkaUtils.createDirectStream(ssc, compiled, kafkaParams, fromOffsets, keyDecoder, valueDecoder,
                                             messageHandler)

    @staticmethod
    def createRDD(sc: "SparkContext", kafkaParams: Mapping[str, Any], offsetRanges: Sequence[OffsetRange],
                  leaders: Mapping[Any, Any] | None = None, keyDecoder: Decoder = utf8_decoder,
                  valueDecoder: Decoder = utf8_decoder, messageHandler: Handler | None = None) -> KafkaRDD:
        """An RDD of exactly the records in ``offsetRanges`` (one partition
        each). ``leaders`` is accepted for PySpark compatibility and unused:
        the client finds each partition's leader."""
        params = KafkaParams.parse(kafkaParams)
        ranges = list(offsetRanges)
        for r in ranges:
            if not isinstance(r, OffsetRange):
                raise TypeError(f"offsetRanges must be OffsetRange objects, got {r!r}")
        if leaders is not None and not isinstance(leaders, Mapping):
            raise TypeError("leaders should be dict")
        conf = sc._conf
        poll_s = conf.getMillis("spark.streaming.kafka.consumer.poll.ms", 120_000) / 1000.0
        left_out = None
        if params.on_decode_error.mode != "fail":
            from .rdd import PartitionCounts
            left_out = sc.accumulator({}, PartitionCounts())
        return KafkaRDD(sc, params.consumer_conf(), ranges, keyDecoder, valueDecoder, messageHandler,
                        params.on_decode_error, params.producer_conf(), poll_s, left_out)
