"""The driver's view of the brokers: partitions, offsets, committed offsets.

Every call retries transient failures (broker unreachable, timeouts) until
its deadline and then raises :class:`KafkaUnavailableError` saying what could
not be done, with which brokers, and which setting bounds the wait. The
client is not picklable; its owner re-creates it after a restore.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Iterable, TypeVar

from .errors import KafkaUnavailableError
from .params import KafkaParams, client_logger

__all__ = ["BrokerClient"]

T = TypeVar("T")
TP = tuple[str, int]
_ATTEMPT_S = 1.0  # per request: a broker answering late is asked again


class BrokerClient:
    def __init__(self, params: KafkaParams) -> None:
        from confluent_kafka import Consumer

        self._params = params
        conf = dict(params.client)
        conf.setdefault("group.id", "fluvial-direct-stream")
        conf.update({"enable.auto.commit": False, "logger": client_logger()})
        self._consumer = Consumer(conf)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._consumer.close()

    def _retry(self, what: str, timeout_s: float, setting: str, call: Callable[[float], T]) -> T:
        from confluent_kafka import KafkaError, KafkaException

        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                with self._lock:
                    return call(max(0.05, min(_ATTEMPT_S, remaining)))
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                fatal = isinstance(err, KafkaError) and err.fatal()
                if fatal or deadline - time.monotonic() <= 0:
                    detail = err.str() if isinstance(err, KafkaError) else str(exc)
                    raise KafkaUnavailableError(
                        f"could not {what} from Kafka brokers {self._params.bootstrap} within {timeout_s:g} s "
                        f"({setting}): {detail}") from exc
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def partitions(self, subscription: list[str] | re.Pattern, timeout_s: float, setting: str) -> dict[str, list[int]]:
        """Partitions of the subscribed topics that exist now (topic -> sorted ids)."""
        md = self._retry("list topics", timeout_s, setting, lambda t: self._consumer.list_topics(timeout=t))
        found: dict[str, list[int]] = {}
        for name, tm in md.topics.items():
            wanted = (subscription.fullmatch(name) is not None if isinstance(subscription, re.Pattern)
                      else name in subscription)
            if wanted and tm.error is None and tm.partitions:
                found[name] = sorted(tm.partitions)
        return found

    def watermarks(self, tps: Iterable[TP], timeout_s: float, setting: str) -> dict[TP, tuple[int, int]]:
        """(earliest, latest) offsets of each partition."""
        from confluent_kafka import TopicPartition

        out: dict[TP, tuple[int, int]] = {}
        for topic, partition in tps:
            tp = TopicPartition(topic, partition)
            out[(topic, partition)] = self._retry(
                f"get the offsets of {topic}-{partition}", timeout_s, setting,
                lambda t, tp=tp: self._consumer.get_watermark_offsets(tp, timeout=t, cached=False))
        return out

    def committed(self, tps: Iterable[TP], timeout_s: float, setting: str) -> dict[TP, int]:
        """The group's committed offsets (partitions without one are left out)."""
        from confluent_kafka import TopicPartition

        wanted = [TopicPartition(t, p) for t, p in tps]
        if not wanted:
            return {}
        got = self._retry(f"get the committed offsets of group {self._params.group_id!r}", timeout_s, setting,
                          lambda t: self._consumer.committed(wanted, timeout=t))
        return {(tp.topic, tp.partition): tp.offset for tp in got if tp.offset >= 0}

    def commit(self, offsets: dict[TP, int], timeout_s: float) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) for the group."""
        from confluent_kafka import KafkaError, TopicPartition

        tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]

        def call(_t: float) -> Any:
            result = self._consumer.commit(offsets=tps, asynchronous=False)
            failed = [tp for tp in result or [] if tp.error is not None]
            if failed:
                from confluent_kafka import KafkaException
                raise KafkaException(failed[0].error if isinstance(failed[0].error, KafkaError)
                                     else KafkaError(KafkaError._FAIL, str(failed[0].error)))
            return result
        self._retry(f"commit offsets for group {self._params.group_id!r}", timeout_s,
                    "spark.streaming.kafka.consumer.poll.ms", call)
