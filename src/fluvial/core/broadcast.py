"""Broadcast variables: a read-only value shipped to each worker once.

In the driver a :class:`Broadcast` holds its value. When a stage that refers
to it is pickled for worker processes, only its id is written; the executor
sends the pickled value to each worker the first time that worker needs it and
tells workers to drop it after :meth:`Broadcast.destroy`/``unpersist``.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from typing import Any, Generic, Iterator, TypeVar

T = TypeVar("T")

_ids = itertools.count()
_driver: "weakref.WeakValueDictionary[int, Broadcast]" = weakref.WeakValueDictionary()
_worker_values: dict[int, Any] = {}
_collect = threading.local()


class Broadcast(Generic[T]):
    def __init__(self, sc: Any = None, value: T | None = None, *, _id: int | None = None) -> None:
        if _id is not None:  # worker-side handle
            self._id = _id
            self._driver_side = False
            return
        self._id = next(_ids)
        self._value = value
        self._pickled: bytes | None = None
        self._driver_side = True
        self._destroyed = False
        _driver[self._id] = self

    @property
    def id(self) -> int:
        return self._id

    @property
    def value(self) -> T:
        if self._driver_side:
            if self._destroyed:
                raise RuntimeError(f"broadcast {self._id} was destroyed and cannot be read")
            return self._value  # type: ignore[return-value]
        try:
            return _worker_values[self._id]
        except KeyError:
            raise RuntimeError(f"broadcast {self._id} is not available in this worker "
                               "(was it destroyed?)") from None

    def unpersist(self, blocking: bool = False) -> None:
        """Drop cached copies in workers; the value is resent if used again."""
        self._pickled = None
        _driver.pop(self._id, None)
        if not self._destroyed:
            _driver[self._id] = self

    def destroy(self, blocking: bool = False) -> None:
        """Release the value everywhere; reading it afterwards is an error."""
        self._destroyed = True
        self._value = None
        self._pickled = None
        _driver.pop(self._id, None)

    def dump(self, value: T, f: Any) -> None:
        import cloudpickle
        cloudpickle.dump(value, f, protocol=5)

    def load(self, file: Any) -> T:
        import cloudpickle
        return cloudpickle.load(file)

    def __reduce__(self) -> tuple:
        ids = getattr(_collect, "ids", None)
        if ids is not None:
            ids.add(self._id)
        return (_worker_handle, (self._id,))

    def __repr__(self) -> str:
        return f"Broadcast({self._id})"


def _worker_handle(bid: int) -> Broadcast:
    live = _driver.get(bid)
    if live is not None:  # unpickled inside the driver (e.g. a round-trip test)
        return live
    return Broadcast(_id=bid)


@contextlib.contextmanager
def collecting() -> Iterator[set[int]]:
    """Record the ids of broadcasts pickled in this block."""
    ids: set[int] = set()
    _collect.ids = ids
    try:
        yield ids
    finally:
        _collect.ids = None


def pickled_value(bid: int) -> bytes:
    b = _driver.get(bid)
    if b is None or b._destroyed:
        raise RuntimeError(f"broadcast {bid} was destroyed but a task still uses it")
    if b._pickled is None:
        import cloudpickle
        b._pickled = cloudpickle.dumps(b._value, protocol=5)
    return b._pickled


def live_ids() -> set[int]:
    return set(_driver.keys())


def install_worker_value(bid: int, value_bytes: bytes) -> None:
    import pickle
    _worker_values[bid] = pickle.loads(value_bytes)  # cloudpickle's output is plain pickle data


def drop_worker_value(bid: int) -> None:
    _worker_values.pop(bid, None)
