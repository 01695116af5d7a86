"""Records as a direct stream hands them out, and decoding errors.

Without a message handler a record is ``(keyDecoder(key), valueDecoder(value))``
(PySpark 2.4); with one, the handler gets a :class:`KafkaMessageAndMetadata`
whose ``key`` and ``message`` decode lazily when read.
"""
from __future__ import annotations

from typing import Any, Callable

from .errors import KafkaDecodeError

__all__ = ["KafkaMessageAndMetadata", "utf8_decoder", "describe_decoder", "decode_field"]


def utf8_decoder(s: bytes | None) -> str | None:
    """Decode UTF-8 bytes (strictly: invalid bytes raise); None stays None."""
    if s is None:
        return None
    return s.decode("utf-8")


def describe_decoder(f: Callable[..., Any]) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def decode_field(decoder: Callable[[Any], Any], raw: Any, what: str, topic: str, partition: int,
                 offset: int) -> Any:
    try:
        return decoder(raw)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported with the record's position
        raise KafkaDecodeError(
            f"cannot decode the {what} of the record at topic {topic!r} partition {partition} offset {offset} "
            f"with {describe_decoder(decoder)}: {type(exc).__name__}: {exc} (kafkaParams "
            "'fluvial.onDecodeError' = 'skip' or 'deadletter:<topic>' goes on past such records)",
            topic, partition, offset) from exc


class KafkaMessageAndMetadata:
    """One Kafka record with its position (PySpark 2.4's class, plus
    ``timestamp``, ``timestampType`` and ``headers``).

    ``key`` and ``message`` (alias ``value``) are decoded with the stream's
    decoders each time they are read; a failure raises
    :class:`KafkaDecodeError` naming topic, partition and offset."""

    __slots__ = ("topic", "partition", "offset", "_rawKey", "_rawMessage", "timestamp", "timestampType",
                 "headers", "_keyDecoder", "_valueDecoder")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, message: bytes | None,
                 timestamp: int | None = None, timestampType: int = 0,
                 headers: list[tuple[str, bytes]] | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self._rawKey = key
        self._rawMessage = message
        self.timestamp = timestamp            # epoch ms, or None when the broker gave none
        self.timestampType = timestampType    # 1: create time, 2: log append time, 0: none
        self.headers = list(headers) if headers else []
        self._keyDecoder: Callable[[Any], Any] = utf8_decoder
        self._valueDecoder: Callable[[Any], Any] = utf8_decoder

    def _set_key_decoder(self, decoder: Callable[[Any], Any]) -> "KafkaMessageAndMetadata":
        self._keyDecoder = decoder
        return self

    def _set_value_decoder(self, decoder: Callable[[Any], Any]) -> "KafkaMessageAndMetadata":
        self._valueDecoder = decoder
        return self

    @property
    def key(self) -> Any:
        return decode_field(self._keyDecoder, self._rawKey, "key", self.topic, self.partition, self.offset)

    @property
    def message(self) -> Any:
        return decode_field(self._valueDecoder, self._rawMessage, "value", self.topic, self.partition,
                            self.offset)

    value = message

    def __reduce__(self) -> tuple:
        return (_rebuild, (self.topic, self.partition, self.offset, self._rawKey, self._rawMessage,
                           self.timestamp, self.timestampType, self.headers, self._keyDecoder,
                           self._valueDecoder))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, KafkaMessageAndMetadata)
                and (self.topic, self.partition, self.offset, self._rawKey, self._rawMessage)
                == (other.topic, other.partition, other.offset, other._rawKey, other._rawMessage))

    def __hash__(self) -> int:
        return hash((self.topic, self.partition, self.offset))

    def __repr__(self) -> str:
        return (f"KafkaMessageAndMetadata(topic: {self.topic}, partition: {self.partition}, "
                f"offset: {self.offset}, key and message...)")


def _rebuild(topic: str, partition: int, offset: int, key: Any, message: Any, timestamp: Any, ttype: int,
             headers: Any, kd: Callable, vd: Callable) -> KafkaMessageAndMetadata:
    m = KafkaMessageAndMetadata(topic, partition, offset, key, message, timestamp, ttype, headers)
    return m._set_key_decoder(kd)._set_value_decoder(vd)
