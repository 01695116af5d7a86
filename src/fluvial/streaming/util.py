"""Small helpers shared by the streaming layer: durations, times, call sites, arity."""
from __future__ import annotations

import inspect
import os
import socket
import time as _time
import traceback
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from datetime import datetime

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def to_ms(seconds: float, name: str) -> int:
    """A duration in seconds (PySpark's unit) as whole milliseconds, truncated
    as PySpark's ``int(seconds * 1000)`` truncates. Zero or negative is an error."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {seconds!r}")
    ms = int(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"{name} must be positive, got {seconds!r} seconds")
    return ms


def batch_datetime(ms: int) -> datetime:
    """The ``datetime`` PySpark passes to user functions for a batch time (local time)."""
    from datetime import datetime  # imported on first use: a program may never need it
    return datetime.fromtimestamp(ms / 1000.0)


def time_to_ms(value: Any) -> int:
    """A ``datetime`` (local time) or a number of seconds since the epoch, to milliseconds."""
    from datetime import datetime
    if isinstance(value, datetime):
        return int(_time.mktime(value.timetuple())) * 1000 + value.microsecond // 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1000)
    raise TypeError(f"expected a datetime or seconds since the epoch, got {value!r}")


def rdd_to_filename(prefix: str, suffix: str | None, timestamp: Any) -> str:
    """``prefix-<ms>`` or ``prefix-<ms>.suffix`` (saveAsTextFiles' names);
    ``timestamp`` is epoch milliseconds or a ``datetime``."""
    from datetime import datetime
    if isinstance(timestamp, datetime):
        timestamp = time_to_ms(timestamp)
    if suffix is None:
        return f"{prefix}-{timestamp}"
    return f"{prefix}-{timestamp}.{suffix}"


def _user_frames() -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_stack()[:-2]
            if not os.path.abspath(f.filename).startswith(_PKG_DIR)]


def call_site() -> str:
    """``file:line`` of the innermost frame outside fluvial (Spark's short call site)."""
    frames = _user_frames()
    if not frames:
        return "<unknown>"
    f = frames[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno}"


def long_call_site(limit: int = 8) -> str:
    """The innermost user frames, innermost first (Spark's long call site)."""
    frames = _user_frames()[-limit:]
    return "\n".join(f"{f.name} at {f.filename}:{f.lineno}" for f in reversed(frames))


def positional_arity(func: Callable) -> int:
    """How many arguments PySpark would consider ``func`` to take.

    PySpark reads ``func.__code__.co_argcount`` to choose between ``f(rdd)``
    and ``f(time, rdd)``; parameters with defaults count. Bound methods do not
    count ``self``. Callables without ``__code__`` (partials, callable objects)
    are inspected: their positional parameters count, ``*args`` counts as many."""
    code = getattr(func, "__code__", None)
    if code is not None and not inspect.ismethod(func):
        return code.co_argcount
    if inspect.ismethod(func) and hasattr(func.__func__, "__code__"):
        return func.__func__.__code__.co_argcount - 1
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def shutdown_socket(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """Shut ``sock`` down (waking a thread blocked on it), ignoring the error
    of a socket already closed or never connected."""
    try:
        sock.shutdown(how)
    except OSError:
        pass
