"""kafkaParams: what goes to the Kafka client and what fluvial itself reads.

Entries whose name starts with ``fluvial.`` are fluvial's options and never
reach the client:

``fluvial.onDecodeError``
    What to do with a record the key/value decoder (or a message handler
    reading ``key``/``message``) cannot decode: ``fail`` (default: the batch
    fails with an error naming topic, partition and offset), ``skip`` (the
    record is left out and counted) or ``deadletter:<topic>`` (its raw bytes
    are sent to ``<topic>`` with headers naming where it came from, then it
    is left out and counted).
``fluvial.startTimeout.ms``
    How long ``StreamingContext.start()`` waits for the brokers to answer
    before it fails (default 30000).

Everything else is passed to confluent-kafka (librdkafka) unchanged, so any
librdkafka property works (``bootstrap.servers`` or Spark 1.x's
``metadata.broker.list``, security settings, ...). ``auto.offset.reset``
(``smallest``/``earliest`` or ``largest``/``latest``, default ``largest``)
chooses where partitions without an explicit or committed offset start.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["DecodeErrorPolicy", "KafkaParams", "client_logger"]

FLUVIAL_PREFIX = "fluvial."
_EARLIEST = {"smallest", "earliest", "beginning"}
_LATEST = {"largest", "latest", "end"}
_NONE = {"none", "error"}
# Properties that only a consumer understands (a producer would warn about them).
_CONSUMER_ONLY = {"group.id", "group.instance.id", "auto.offset.reset", "enable.auto.commit",
                  "enable.auto.offset.store", "auto.commit.interval.ms", "enable.partition.eof",
                  "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "isolation.level",
                  "fetch.min.bytes", "fetch.max.bytes", "fetch.wait.max.ms", "max.partition.fetch.bytes",
                  "partition.assignment.strategy", "group.protocol", "check.crcs",
                  "queued.min.messages", "queued.max.messages.kbytes", "allow.auto.create.topics"}


def client_logger() -> logging.Logger:
    """The logger librdkafka's own messages go to (instead of stderr)."""
    return logging.getLogger("fluvial.kafka.client")


@dataclass(frozen=True)
class DecodeErrorPolicy:
    """``mode`` is ``fail``, ``skip`` or ``deadletter`` (then ``topic`` is set)."""

    mode: str = "fail"
    topic: str | None = None

    @classmethod
    def parse(cls, text: Any) -> "DecodeErrorPolicy":
        if not isinstance(text, str):
            raise ValueError(f"kafkaParams['fluvial.onDecodeError'] must be a str, got {text!r}")
        if text in ("fail", "skip"):
            return cls(text)
        if text.startswith("deadletter:") and text[len("deadletter:"):].strip():
            return cls("deadletter", text[len("deadletter:"):].strip())
        raise ValueError(f"kafkaParams['fluvial.onDecodeError'] is {text!r}; use 'fail', 'skip' or "
                         "'deadletter:<topic>'")


@dataclass(frozen=True)
class KafkaParams:
    """kafkaParams split into the client's properties and fluvial's options."""

    client: dict
    on_decode_error: DecodeErrorPolicy
    start_timeout_s: float
    reset: str  # "earliest", "latest" or "none"

    @classmethod
    def parse(cls, kafkaParams: Mapping[str, Any]) -> "KafkaParams":
        if not isinstance(kafkaParams, Mapping):
            raise TypeError(f"kafkaParams should be dict, got {type(kafkaParams).__name__}")
        client: dict = {}
        own: dict = {}
        for k, v in kafkaParams.items():
            if not isinstance(k, str):
                raise TypeError(f"kafkaParams keys must be str, got {k!r}")
            (own if k.startswith(FLUVIAL_PREFIX) else client)[k] = v
        unknown = set(own) - {"fluvial.onDecodeError", "fluvial.startTimeout.ms"}
        if unknown:
            raise ValueError(f"unknown fluvial option(s) in kafkaParams: {sorted(unknown)}; known: "
                             "'fluvial.onDecodeError', 'fluvial.startTimeout.ms'")
        if not (client.get("bootstrap.servers") or client.get("metadata.broker.list")):
            raise ValueError("kafkaParams must name the brokers: set 'bootstrap.servers' "
                             "(or 'metadata.broker.list') to 'host:port[,host:port...]'")
        policy = DecodeErrorPolicy.parse(own.get("fluvial.onDecodeError", "fail"))
        timeout_ms = own.get("fluvial.startTimeout.ms", 30000)
        try:
            timeout_s = float(timeout_ms) / 1000.0
        except (TypeError, ValueError):
            timeout_s = -1.0
        if not timeout_s > 0:
            raise ValueError(f"kafkaParams['fluvial.startTimeout.ms'] must be a positive number of "
                             f"milliseconds, got {timeout_ms!r}")
        reset_text = str(client.pop("auto.offset.reset", "largest")).lower()
        if reset_text in _EARLIEST:
            reset = "earliest"
        elif reset_text in _LATEST:
            reset = "latest"
        elif reset_text in _NONE:
            reset = "none"
        else:
            raise ValueError(f"kafkaParams['auto.offset.reset'] is {reset_text!r}; use 'smallest'/'earliest', "
                             "'largest'/'latest' or 'none'")
        return cls(client, policy, timeout_s, reset)

    @property
    def bootstrap(self) -> str:
        return str(self.client.get("bootstrap.servers") or self.client.get("metadata.broker.list"))

    @property
    def group_id(self) -> str | None:
        g = self.client.get("group.id")
        return str(g) if g else None

    def consumer_conf(self) -> dict:
        """Properties for a consumer that reads assigned offsets only: it never
        commits, and an offset that is no longer in the log is an error (never
        a silent jump)."""
        conf = dict(self.client)
        conf.setdefault("group.id", "fluvial-direct-stream")
        conf.update({"enable.auto.commit": False, "enable.auto.offset.store": False,
                     "auto.offset.reset": "error", "enable.partition.eof": False,
                     "logger": client_logger()})
        return conf

    def producer_conf(self) -> dict:
        """Properties for the dead-letter producer: the client's, without the
        consumer-only ones, idempotent."""
        conf = {k: v for k, v in self.client.items() if k not in _CONSUMER_ONLY}
        conf["enable.idempotence"] = True
        return conf
