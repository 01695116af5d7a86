"""Kafka for fluvial streaming: a direct stream with exact offsets, and a sink.

``from fluvial.streaming.kafka import KafkaUtils`` as in PySpark 2.4; needs
``pip install 'fluvial[kafka]'`` (confluent-kafka). See ``docs/kafka.md``.
"""
from .dstream import DirectKafkaInputDStream
from .errors import KafkaDecodeError, KafkaDeliveryError, KafkaReadError, KafkaUnavailableError
from .message import KafkaMessageAndMetadata, utf8_decoder
from .offsets import Broker, OffsetRange, TopicAndPartition
from .rdd import KafkaRDD
from .sink import saveToKafka
from .utils import KafkaUtils

__all__ = ["Broker", "DirectKafkaInputDStream", "KafkaDecodeError", "KafkaDeliveryError", "KafkaMessageAndMetadata",
           "KafkaRDD", "KafkaReadError", "KafkaUnavailableError", "KafkaUtils", "OffsetRange", "TopicAndPartition",
           "saveToKafka", "utf8_decoder"]
