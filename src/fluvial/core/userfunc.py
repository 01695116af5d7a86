"""Guards around user functions run inside tasks."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def fail_on_stopiteration(f: F) -> F:
    """Turn a ``StopIteration`` escaping ``f`` into a ``RuntimeError``.

    Without this, a user function that raises ``StopIteration`` inside a
    generator pipeline silently ends the partition early instead of failing
    the task (PySpark guards the same way)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except StopIteration as exc:
            raise RuntimeError("Caught StopIteration thrown from user's code; failing the task") from exc
    return wrapper  # type: ignore[return-value]


def check_positive_int(name: str, value: Any) -> int:
    """``value`` if it is a positive ``int`` (not bool), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
