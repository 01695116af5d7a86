"""The direct Kafka stream: exact offset ranges per batch, decided on the driver.

When batch ``t`` is generated, the driver asks the brokers for each
partition's latest offset and records, in plain attributes, the range
``[next offset, min(latest, next + rate cap))`` of every partition under
``t`` and the new next offsets. ``_compute(t)`` reuses a recorded batch, so a
batch recomputed — or re-run after the driver restarted from a metadata
checkpoint that holds those attributes — reads exactly the same records. With
an idempotent or transactional sink this gives exactly-once output; the
stream itself never skips or repeats an offset (records the decoder cannot
decode are left out only when ``fluvial.onDecodeError`` says so, and are
counted).

Rate control (Spark's settings): ``spark.streaming.kafka.maxRatePerPartition``
caps each partition at that many records per second of batch duration;
with ``spark.streaming.backpressure.enabled`` the PID rate estimator's rate
(``spark.streaming.backpressure.initialRate`` before its first estimate) is
shared among partitions in proportion to their backlog. Either way a backlog
is drained in bounded batches.
"""
from __future__ import annotations

import collections
import logging
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..rate import RateController, create_rate_estimator
from ..sources.base import InputDStream
from .driver import BrokerClient
from .errors import KafkaUnavailableError
from .message import KafkaMessageAndMetadata
from .offsets import OffsetRange, TopicAndPartition, max_messages_per_partition
from .params import KafkaParams
from .rdd import KafkaRDD, PartitionCounts

if TYPE_CHECKING:
    from ..context import StreamingContext

__all__ = ["DirectKafkaInputDStream"]

log = logging.getLogger("fluvial.kafka")
TP = tuple[str, int]
_POLL_SETTING = "spark.streaming.kafka.consumer.poll.ms"


def normalize_offsets(fromOffsets: Mapping[Any, int] | None) -> dict[TP, int]:
    """``{TopicAndPartition or (topic, partition): offset}`` as ``{(topic, partition): offset}``."""
    if fromOffsets is None:
        return {}
    if not isinstance(fromOffsets, Mapping):
        raise TypeError(f"fromOffsets should be a dict of TopicAndPartition -> offset, got "
                        f"{type(fromOffsets).__name__}")
    out: dict[TP, int] = {}
    for key, offset in fromOffsets.items():
        if isinstance(key, TopicAndPartition):
            tp = (key.topic, key.partition)
        elif isinstance(key, tuple) and len(key) == 2:
            tp = (TopicAndPartition(*key).topic, key[1])
        else:
            raise TypeError(f"fromOffsets keys must be TopicAndPartition (or (topic, partition)), got {key!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"fromOffsets[{tp[0]}-{tp[1]}] must be an offset (int >= 0), got {offset!r}")
        out[tp] = offset
    return out


class DirectKafkaInputDStream(InputDStream):
    """Batches of Kafka records read by offset range (see the module docstring).
    Each batch RDD is a :class:`KafkaRDD` with ``offsetRanges()``."""

    _function_attrs = ("_key_decoder", "_value_decoder", "_handler")
    _transient = ("_client", "_commit_queue", "_rate_controller")

    def __init__(self, ssc: "StreamingContext", subscription: list[str] | re.Pattern, kafkaParams: Mapping[str, Any],
                 fromOffsets: Mapping[Any, int] | None, keyDecoder: Callable[[Any], Any],
                 valueDecoder: Callable[[Any], Any],
                 messageHandler: Callable[[KafkaMessageAndMetadata], Any] | None) -> None:
        params = KafkaParams.parse(kafkaParams)
        offsets = normalize_offsets(fromOffsets)
        if isinstance(subscription, list):
            extra = sorted({t for t, _ in offsets} - set(subscription))
            if extra:
                raise ValueError(f"fromOffsets names topics that are not subscribed: {extra} "
                                 f"(topics: {subscription})")
        for name, f in (("keyDecoder", keyDecoder), ("valueDecoder", valueDecoder)):
            if not callable(f):
                raise TypeError(f"{name} must be callable, got {f!r}")
        if messageHandler is not None and not callable(messageHandler):
            raise TypeError(f"messageHandler must be callable or None, got {messageHandler!r}")
        conf = ssc._sc._conf
        max_rate = conf.getFloat("spark.streaming.kafka.maxRatePerPartition", 0.0)
        if max_rate < 0:
            raise ValueError(f"spark.streaming.kafka.maxRatePerPartition must be >= 0 records/s, got {max_rate:g}")
        min_rate = conf.getInt("spark.streaming.kafka.minRatePerPartition", 1)
        if min_rate <= 0:
            raise ValueError(f"spark.streaming.kafka.minRatePerPartition must be > 0, got {min_rate}")
        poll_ms = conf.getMillis(_POLL_SETTING, 120_000)
        if poll_ms <= 0:
            raise ValueError(f"{_POLL_SETTING} must be a positive duration, got {conf.get(_POLL_SETTING)!r}")
        initial_rate = conf.getFloat("spark.streaming.backpressure.initialRate", 0.0)
        if initial_rate < 0:
            raise ValueError(f"spark.streaming.backpressure.initialRate must be >= 0, got {initial_rate:g}")
        super().__init__(ssc)
        self._params = params
        self._subscription = subscription
        self._from_offsets = offsets
        self._key_decoder = keyDecoder
        self._value_decoder = valueDecoder
        self._handler = messageHandler
        self._max_rate = max_rate
        self._min_rate = min_rate
        self._poll_timeout_s = poll_ms / 1000.0
        self._backpressure = conf.getBoolean("spark.streaming.backpressure.enabled", False)
        self._initial_rate = initial_rate
        # What a batch re-run needs, kept in plain attributes (metadata checkpoints hold them):
        self._ranges: dict[int, list[OffsetRange]] = {}   # batch time -> its ranges
        self._next: dict[TP, int] | None = None           # next offset to read, set at start
        self._after_restore()

    # ---------------------------------------------------------------- runtime
    def _after_restore(self) -> None:
        try:
            self._client: BrokerClient | None = BrokerClient(self._params)
        except Exception as exc:  # noqa: BLE001 - confluent-kafka rejects bad properties here
            raise ValueError(f"kafkaParams: the Kafka client rejected them: {exc}") from exc
        self._commit_queue: collections.deque[tuple[list[OffsetRange], Callable | None]] = collections.deque()
        self._rate_controller: RateController | None = None

    def _broker(self) -> BrokerClient:
        if self._client is None:
            self._client = BrokerClient(self._params)
        return self._client

    def start(self) -> None:
        """Resolve where each partition starts (unless restored from a
        checkpoint, which knows): ``fromOffsets``, else the group's committed
        offset, else ``auto.offset.reset``. Fails with
        :class:`KafkaUnavailableError` when the brokers do not answer within
        ``fluvial.startTimeout.ms``."""
        if self._next is None:
            self._next = self._starting_offsets()
        if self._backpressure and self._rate_controller is None:
            self._rate_controller = RateController(
                self.id, create_rate_estimator(self._sc._conf, self._ssc._batch_ms), lambda _rate: None)
            self._ssc._batch_listeners.append(self._on_batch_completed)

    def stop(self) -> None:
        """Commit what ``commitAsync`` queued, then release the client."""
        if self._rate_controller is not None and self._on_batch_completed in self._ssc._batch_listeners:
            self._ssc._batch_listeners.remove(self._on_batch_completed)
        try:
            self._flush_commits()
        except Exception:  # noqa: BLE001 - stopping goes on; the failure is logged
            log.exception("%s: committing queued offsets at stop failed", self.name)
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_batch_completed(self, info: Any) -> None:
        if self._rate_controller is not None:
            self._rate_controller.on_batch_completed(info)

    # --------------------------------------------------------------- offsets
    def _starting_offsets(self) -> dict[TP, int]:
        timeout, setting = self._params.start_timeout_s, "kafkaParams 'fluvial.startTimeout.ms'"
        broker = self._broker()
        parts = broker.partitions(self._subscription, timeout, setting)
        if isinstance(self._subscription, list):
            missing = [t for t in self._subscription if t not in parts]
            if missing:
                raise ValueError(f"topic(s) {missing} do not exist on Kafka brokers {self._params.bootstrap}")
        tps = [(t, p) for t in sorted(parts) for p in parts[t]]
        unknown = sorted(set(self._from_offsets) - set(tps))
        if unknown:
            raise ValueError(f"fromOffsets names partitions that do not exist: "
                             f"{[f'{t}-{p}' for t, p in unknown]}")
        return self._resolve(tps, timeout, setting, self._params.reset, self._from_offsets)

    def _resolve(self, tps: list[TP], timeout: float, setting: str, reset: str,
                 explicit: Mapping[TP, int]) -> dict[TP, int]:
        broker = self._broker()
        marks = broker.watermarks(tps, timeout, setting)
        rest = [tp for tp in tps if tp not in explicit]
        committed = broker.committed(rest, timeout, setting) if rest and self._params.group_id else {}
        out: dict[TP, int] = {}
        for tp in tps:
            low, high = marks[tp]
            if tp in explicit:
                offset = explicit[tp]
                if not low <= offset <= high:
                    raise ValueError(f"fromOffsets[{tp[0]}-{tp[1]}] = {offset} is outside the offsets the log "
                                     f"holds, [{low}, {high}]")
            elif tp in committed:
                offset = committed[tp]
            elif reset == "earliest":
                offset = low
            elif reset == "latest":
                offset = high
            else:
                raise ValueError(f"no offset to start {tp[0]}-{tp[1]} from: no fromOffsets entry, no offset "
                                 f"committed by group {self._params.group_id!r}, and auto.offset.reset is none")
            out[tp] = offset
        return out

    def _plan(self, t: int) -> list[OffsetRange]:
        """Decide batch ``t``'s ranges and advance the next offsets."""
        assert self._next is not None, "start() resolves the starting offsets"
        broker, timeout = self._broker(), self._poll_timeout_s
        parts = broker.partitions(self._subscription, timeout, _POLL_SETTING)
        tps = [(tp, p) for tp in sorted(parts) for p in parts[tp]]
        new = [tp for tp in tps if tp not in self._next]
        if new:  # created after the stream started: all of their records are new
            self._next.update(self._resolve(new, timeout, _POLL_SETTING, "earliest", {}))
            log.info("%s: new partitions %s start at %s", self.name, [f"{a}-{b}" for a, b in new],
                     [self._next[tp] for tp in new])
        latest = {tp: high for tp, (_low, high) in broker.watermarks(tps, timeout, _POLL_SETTING).items()}
        caps = max_messages_per_partition({tp: latest[tp] - self._next[tp] for tp in tps}, self._ssc._batch_ms,
                                          self._max_rate, self._min_rate, self._estimated_rate())
        ranges = []
        for tp in tps:
            start = self._next[tp]
            until = latest[tp]
            if until < start:
                log.warning("%s: %s-%d ends at offset %d, before offset %d that is next to read (records "
                            "deleted or topic re-created?); waiting for the log to reach it",
                            self.name, tp[0], tp[1], until, start)
                until = start
            if caps is not None:
                until = min(until, start + caps[tp])
            ranges.append(OffsetRange(tp[0], tp[1], start, until))
            self._next[tp] = until
        return ranges

    def _estimated_rate(self) -> float | None:
        if self._rate_controller is None:
            return None
        rate = self._rate_controller.getLatestRate()
        if rate > 0:
            return float(rate)
        return self._initial_rate if self._initial_rate > 0 else None

    # ------------------------------------------------------------- batches
    def _compute(self, t: int) -> KafkaRDD:
        ranges = self._ranges.get(t)
        if ranges is None:
            self._flush_commits()
            ranges = self._ranges[t] = self._plan(t)
        metadata: dict[str, Any] = {
            "offsets": list(ranges),
            "Description": "\n".join(f"topic: {r.topic}\tpartition: {r.partition}\t"
                                     f"offsets: {r.fromOffset} to {r.untilOffset}" for r in ranges)}
        left_out = None
        if self._params.on_decode_error.mode != "fail":
            left_out = self._sc.accumulator({}, PartitionCounts())
            metadata["undecodable"] = left_out.value  # filled in, per partition, as the batch's tasks finish
        self._report(t, sum(r.count() for r in ranges), metadata)
        return KafkaRDD(self._sc, self._params.consumer_conf(), ranges, self._key_decoder, self._value_decoder,
                        self._handler, self._params.on_decode_error, self._params.producer_conf(),
                        self._poll_timeout_s, left_out)

    def _clear_metadata(self, t: int) -> None:
        super()._clear_metadata(t)
        with self._lock:
            limit = t - (self._remember_ms or self._slide_ms)
            for old in [k for k in self._ranges if k <= limit]:
                del self._ranges[old]

    # ------------------------------------------------------------- commits
    def commitAsync(self, offsetRanges: Iterable[OffsetRange],
                    callback: Callable[[dict, Exception | None], None] | None = None) -> None:
        """Queue ``offsetRanges`` (usually ``rdd.offsetRanges()`` once the
        batch's output is written) to be committed for ``group.id`` when the
        next batch is generated, or when the context stops (Spark's
        ``CanCommitOffsets.commitAsync``). ``callback(offsets, error)`` is
        called then, with ``error`` None on success. Committed offsets are
        where a new stream of the same group starts (at-least-once: a crash
        between output and commit replays that batch)."""
        ranges = self._check_ranges(offsetRanges)
        if callback is not None and not callable(callback):
            raise TypeError(f"commitAsync: callback must be callable, got {callback!r}")
        self._commit_queue.append((ranges, callback))

    def commitOffsets(self, offsetRanges: Iterable[OffsetRange]) -> None:
        """Commit ``offsetRanges`` for ``group.id`` now; raises
        :class:`KafkaUnavailableError` if the brokers do not take them within
        ``spark.streaming.kafka.consumer.poll.ms``."""
        self._broker().commit(_commit_map(self._check_ranges(offsetRanges)), self._poll_timeout_s)

    def _check_ranges(self, offsetRanges: Iterable[OffsetRange]) -> list[OffsetRange]:
        if self._params.group_id is None:
            raise ValueError("committing offsets needs a consumer group: set 'group.id' in kafkaParams")
        ranges = list(offsetRanges)
        bad = [r for r in ranges if not isinstance(r, OffsetRange)]
        if bad:
            raise TypeError(f"offsetRanges must be OffsetRange objects (rdd.offsetRanges()), got {bad[0]!r}")
        return ranges

    def _flush_commits(self) -> None:
        while self._commit_queue:
            ranges, callback = self._commit_queue.popleft()
            offsets = _commit_map(ranges)
            try:
                self._broker().commit(offsets, self._poll_timeout_s)
            except KafkaUnavailableError as exc:
                if callback is None:
                    log.error("%s: commitAsync of %s failed: %s", self.name, offsets, exc)
                else:
                    callback(offsets, exc)
                continue
            if callback is not None:
                callback(offsets, None)


def _commit_map(ranges: list[OffsetRange]) -> dict[TP, int]:
    out: dict[TP, int] = {}
    for r in ranges:
        tp = (r.topic, r.partition)
        out[tp] = max(out.get(tp, 0), r.untilOffset)
    return out
