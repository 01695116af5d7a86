"""Small helpers shared by the streaming layer: durations, call sites, arity."""
from __future__ import annotations

import inspect
import os
import time as _time
import traceback
from datetime import datetime
from typing import Any, Callable

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def to_ms(seconds: float, name: str) -> int:
    """Convert a duration in seconds (PySpark's unit) to whole milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {seconds!r}")
    ms = int(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"{name} must be positive, got {seconds!r} seconds")
    return ms


def batch_datetime(ms: int) -> datetime:
    """The ``datetime`` PySpark passes to user functions for a batch time."""
    return datetime.fromtimestamp(ms / 1000.0)


def time_to_ms(value: Any) -> int:
    """A ``datetime`` or a number of seconds since the epoch, to milliseconds."""
    if isinstance(value, datetime):
        return int(_time.mktime(value.timetuple())) * 1000 + value.microsecond // 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1000)
    raise TypeError(f"expected a datetime or seconds since the epoch, got {value!r}")


def rdd_to_filename(prefix: str, suffix: str | None, timestamp: Any) -> str:
    """``prefix-<ms>`` or ``prefix-<ms>.suffix`` (saveAsTextFiles' names)."""
    if isinstance(timestamp, datetime):
        timestamp = time_to_ms(timestamp)
    if suffix is None:
        return f"{prefix}-{timestamp}"
    return f"{prefix}-{timestamp}.{suffix}"


def call_site() -> str:
    """``name at file:line`` of the first frame outside fluvial (Spark's call site)."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(frame.filename).startswith(_PKG_DIR):
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "<unknown>"


def positional_arity(func: Callable) -> int:
    """Number of positional parameters ``func`` accepts (what PySpark checks
    via ``__code__.co_argcount`` to choose ``f(rdd)`` or ``f(time, rdd)``)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            n += 1
    return n
