"""One producer per configuration per process, shared by the tasks that run there.

Starting an idempotent producer costs a round of broker requests (and, with
librdkafka, up to half a second before its producer id is granted), so a
producer made per task would cost that on every batch; Spark caches its Kafka
producers on executors for the same reason. A confluent-kafka producer is
thread-safe: concurrent tasks share it, each learning the fate of its own
records from its own delivery callbacks.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .params import client_logger

__all__ = ["shared_producer", "forget_producer", "wait_answered"]

_MAX = 8
_lock = threading.Lock()
_producers: "OrderedDict[tuple, Any]" = OrderedDict()


def shared_producer(conf: dict) -> Any:
    """This process's producer for ``conf`` (created on first use; the least
    recently used of more than eight is flushed and dropped)."""
    from confluent_kafka import Producer

    key = tuple(sorted((k, repr(v)) for k, v in conf.items() if k != "logger"))
    with _lock:
        producer = _producers.get(key)
        if producer is not None:
            _producers.move_to_end(key)
            return producer
        producer = Producer({**conf, "logger": client_logger()})
        _producers[key] = producer
        evicted = _producers.popitem(last=False)[1] if len(_producers) > _MAX else None
    if evicted is not None:
        evicted.flush()
    return producer


def forget_producer(producer: Any) -> None:
    """Stop sharing ``producer`` (after it failed: the next task gets a fresh one)."""
    with _lock:
        for key in [k for k, p in _producers.items() if p is producer]:
            del _producers[key]


def wait_answered(producer: Any, answered: list[int], sent: int) -> None:
    """Wait until the broker has answered (acknowledged or refused) all
    ``sent`` records of one task, whose delivery callbacks count into
    ``answered[0]``. ``flush`` alone is not enough on a shared producer: it
    returns once every callback is dispatched, possibly to another task's
    thread that is still running it. Bounded by ``message.timeout.ms``."""
    producer.flush()
    while answered[0] < sent:
        producer.poll(0.01)
