"""The broker the Kafka tests run against, and helpers to fill its topics.

Producers here send every record as its own batch (``batch.num.messages=1``):
tansu 0.6 reports a partition's end offset as the base offset of its last
record batch + 1, which is exact only for batches of one record.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import time
from typing import Any, Iterable, Iterator

from confluent_kafka import Consumer, Producer, TopicPartition

from fluvial.streaming.kafka.local_broker import LocalBroker

_names = itertools.count()


class KafkaBroker(LocalBroker):
    """The session's broker, with helpers to fill and inspect its topics."""

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The broker process stopped (SIGSTOP) inside the block, resumed after."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    # ------------------------------------------------------------ topics
    def topic(self, prefix: str, partitions: int = 1) -> str:
        """A new topic with a unique name."""
        name = f"{prefix}-{next(_names)}-{os.getpid()}"
        self.create(name, partitions)
        return name

    def create(self, name: str, partitions: int) -> None:
        self.create_topic(name, partitions)

    def produce(self, topic: str, records: Iterable[tuple[int, Any, Any]] | Iterable[Any],
                partition: int | None = None, headers: list | None = None) -> None:
        """Send records — ``(partition, key, value)`` triples, or plain values
        to ``partition`` — each in a batch of its own, and wait for them."""
        p = Producer({"bootstrap.servers": self.bootstrap, "batch.num.messages": 1, "linger.ms": 0})
        failed: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(err.str())

        for rec in records:
            if partition is not None:
                part, key, value = partition, None, rec
            else:
                part, key, value = rec
            p.produce(topic, _b(value), _b(key), partition=part, headers=headers, on_delivery=delivered)
            p.poll(0)
        assert p.flush(10) == 0 and not failed, failed

    def end_offsets(self, topic: str, partitions: int) -> list[int]:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "probe"})
        try:
            return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(partitions)]
        finally:
            c.close()

    def read_all(self, topic: str, partitions: int = 1) -> list[tuple[int, int, bytes | None, bytes | None, list]]:
        """Every record of ``topic``: (partition, offset, key, value, headers)."""
        out = []
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "probe", "enable.auto.commit": False})
        try:
            for p, end in enumerate(self.end_offsets(topic, partitions)):
                if end == 0:
                    continue
                c.assign([TopicPartition(topic, p, 0)])
                got: list = []
                deadline = time.monotonic() + 10
                while len(got) < end and time.monotonic() < deadline:
                    got += [m for m in c.consume(end - len(got), 0.5) if m.error() is None]
                out += [(p, m.offset(), m.key(), m.value(), m.headers() or []) for m in got]
        finally:
            c.close()
        return out

    def committed(self, group: str, topic: str, partitions: int) -> list[int]:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
            return [tp.offset for tp in got]
        finally:
            c.close()


def _b(x: Any) -> bytes | None:
    return x.encode() if isinstance(x, str) else x
