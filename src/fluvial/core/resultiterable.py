"""The value type of groupByKey and cogroup: a re-iterable, sized view of a list."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class ResultIterable(Iterable, Generic[T]):
    """A re-iterable wrapper over grouped values (``data`` is the list)."""

    def __init__(self, data: list[T]) -> None:
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"ResultIterable({self.data!r})"
