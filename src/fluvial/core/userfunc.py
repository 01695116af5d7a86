"""Guards around user functions run inside tasks."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, TypeVar

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


# The record pipelines below are generators on purpose: a StopIteration that a
# user function raises inside a generator becomes a RuntimeError (PEP 479)
# instead of silently ending the partition, as it would inside the C ``map``.
# They cost no more per record than ``map``/``filter`` and less than wrapping
# every call in a try/except function.
def map_records(f: Callable[[Any], Any], records: Iterable[Any]) -> Iterator[Any]:
    for x in records:
        yield f(x)


def flat_map_records(f: Callable[[Any], Iterable[Any]], records: Iterable[Any]) -> Iterator[Any]:
    for x in records:
        yield from f(x)


def filter_records(f: Callable[[Any], bool], records: Iterable[Any]) -> Iterator[Any]:
    for x in records:
        if f(x):
            yield x


def check_positive_int(name: str, value: Any) -> int:
    """``value`` if it is a positive ``int`` (not bool), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
