"""Offset ranges and how many records a batch may take from each partition.

An :class:`OffsetRange` is half-open: ``[fromOffset, untilOffset)`` of one
topic partition. A direct stream's batch is a list of them, one per partition,
decided on the driver when the batch is generated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, TypeVar

__all__ = ["OffsetRange", "TopicAndPartition", "Broker", "max_messages_per_partition"]

K = TypeVar("K")


@dataclass(frozen=True, order=True)
class TopicAndPartition:
    """A topic partition (PySpark 2.4's class; keys of ``fromOffsets``)."""

    topic: str
    partition: int

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise TypeError(f"TopicAndPartition: topic must be a non-empty str, got {self.topic!r}")
        if isinstance(self.partition, bool) or not isinstance(self.partition, int) or self.partition < 0:
            raise TypeError(f"TopicAndPartition: partition must be an int >= 0, got {self.partition!r}")

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, order=True)
class OffsetRange:
    """Records ``fromOffset`` (inclusive) to ``untilOffset`` (exclusive) of one
    topic partition, as in PySpark 2.4. Equal ranges read equal records."""

    topic: str
    partition: int
    fromOffset: int
    untilOffset: int

    def __post_init__(self) -> None:
        TopicAndPartition(self.topic, self.partition)  # validates both
        for name in ("fromOffset", "untilOffset"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TypeError(f"OffsetRange: {name} must be an int >= 0, got {v!r}")
        if self.untilOffset < self.fromOffset:
            raise ValueError(f"OffsetRange of {self.topic}-{self.partition}: untilOffset {self.untilOffset} "
                             f"is before fromOffset {self.fromOffset}")

    def topicAndPartition(self) -> TopicAndPartition:
        return TopicAndPartition(self.topic, self.partition)

    def count(self) -> int:
        """Offsets in the range (records, unless the log was compacted)."""
        return self.untilOffset - self.fromOffset

    def __str__(self) -> str:
        return (f"OffsetRange(topic: {self.topic}, partition: {self.partition}, "
                f"range: [{self.fromOffset} -> {self.untilOffset}])")


@dataclass(frozen=True)
class Broker:
    """A broker address (accepted by ``createRDD`` for PySpark compatibility;
    the client finds partition leaders itself)."""

    host: str
    port: int


def max_messages_per_partition(lags: Mapping[K, int], batch_ms: int, max_rate_per_partition: float,
                               min_rate_per_partition: int, estimated_rate: float | None) -> dict[K, int] | None:
    """The most records each partition may contribute to one batch, or None
    for no limit (Spark's ``DirectKafkaInputDStream.maxMessagesPerPartition``).

    With an ``estimated_rate`` (records/s for the whole stream, from
    backpressure) it is shared among partitions in proportion to their lag and
    capped by ``max_rate_per_partition`` (0: no cap); without one, each
    partition gets ``max_rate_per_partition``. Rates become records by
    multiplying by the batch duration, and every partition may take at least
    ``min_rate_per_partition`` records per batch."""
    if estimated_rate is not None and estimated_rate > 0:
        total_lag = sum(max(lag, 0) for lag in lags.values())
        rates = {}
        for tp, lag in lags.items():
            share = max(lag, 0) / total_lag * estimated_rate if total_lag > 0 else 0.0
            rates[tp] = min(share, max_rate_per_partition) if max_rate_per_partition > 0 else share
    else:
        rates = {tp: float(max_rate_per_partition) for tp in lags}
    if not rates or sum(rates.values()) <= 0:
        return None
    seconds = batch_ms / 1000.0
    return {tp: max(math.floor(seconds * r), min_rate_per_partition) for tp, r in rates.items()}
