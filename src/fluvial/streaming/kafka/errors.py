"""Errors of the Kafka source and sink. Each pickles with its details, so a
task that raises one in a worker process fails its batch with the same error."""
from __future__ import annotations

__all__ = ["KafkaDecodeError", "KafkaReadError", "KafkaUnavailableError", "KafkaDeliveryError"]


class KafkaDecodeError(ValueError):
    """A record's key or value could not be decoded; ``topic``, ``partition``
    and ``offset`` say which record."""

    def __init__(self, message: str, topic: str, partition: int, offset: int) -> None:
        super().__init__(message)
        self.topic = topic
        self.partition = partition
        self.offset = offset

    def __reduce__(self) -> tuple:
        return (type(self), (self.args[0], self.topic, self.partition, self.offset))


class KafkaReadError(RuntimeError):
    """A batch could not read its offset range (offsets no longer in the log,
    broker away longer than ``spark.streaming.kafka.consumer.poll.ms``, ...)."""


class KafkaUnavailableError(ConnectionError):
    """The brokers did not answer within the allowed time."""


class KafkaDeliveryError(RuntimeError):
    """Records given to the Kafka sink (or the dead-letter topic) were not
    acknowledged by the broker."""
