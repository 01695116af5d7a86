"""Storage levels and the driver's block store.

A *block* is one materialised partition: a cached RDD partition
(``("rdd", rdd_id, split)``) or one map task's output for one reduce partition
(``("shuffle", shuffle_id, map_id)`` holding a list of buckets). The driver
knows where every block is: held in the driver, or kept by the worker process
that computed it (a cached partition, see :class:`BlockStore`). Tasks receive
the blocks they read as inputs (or run where they are kept) and return the
blocks they create, so a task never needs a channel back to the driver.
"""
from __future__ import annotations

import collections
import contextlib
import threading
from typing import Any, Iterator


class StorageLevel:
    """How an RDD is persisted. fluvial keeps persisted partitions in memory as
    Python lists whatever the level; the flags are kept for compatibility and for
    the future disk-backed store."""

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool,
                 deserialized: bool, replication: int = 1) -> None:
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageLevel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.useDisk, self.useMemory, self.useOffHeap, self.deserialized, self.replication)

    def __repr__(self) -> str:
        return "StorageLevel(%s, %s, %s, %s, %s)" % self._key()

    def __str__(self) -> str:
        result = ""
        result += "Disk " if self.useDisk else ""
        result += "Memory " if self.useMemory else ""
        result += "OffHeap " if self.useOffHeap else ""
        result += "Deserialized " if self.deserialized else "Serialized "
        result += "%sx Replicated" % self.replication
        return result


StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)  # type: ignore[attr-defined]
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)  # type: ignore[attr-defined]
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)  # type: ignore[attr-defined]
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)  # type: ignore[attr-defined]
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)  # type: ignore[attr-defined]
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)  # type: ignore[attr-defined]
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)  # type: ignore[attr-defined]
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)  # type: ignore[attr-defined]
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)  # type: ignore[attr-defined]
StorageLevel.NONE = StorageLevel(False, False, False, False)  # type: ignore[attr-defined]

BlockId = tuple  # (kind, owner_id, index): ("rdd", rdd_id, split) or ("shuffle", shuffle_id, map_id)


class BlockStore:
    """Where every block is, owned by the driver.

    A block is either held here (its data) or *remote*: kept by the worker
    process that computed it, which this store only knows the key of. Tasks
    that read a remote block run on its worker. Removing an owner's blocks is
    idempotent; remote copies are dropped by their worker the next time the
    executor talks to it (:meth:`take_drops`). Finalizers of collected RDDs
    use :meth:`release_owner`, which never waits for the lock.
    Guarantees: a block once put is returned unchanged until removed."""

    def __init__(self) -> None:
        self._owners: dict[tuple[str, int], dict[int, Any]] = {}
        self._remote: dict[tuple[str, int], dict[int, Any]] = {}
        self._drops: dict[Any, list[BlockId]] = {}
        self._lock = threading.Lock()
        self._released: collections.deque[tuple[str, int]] = collections.deque()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the lock, after applying the owners released since the last holder."""
        with self._lock:
            while self._released:
                self._remove(*self._released.popleft())
            yield

    def put(self, block_id: BlockId, data: Any) -> None:
        """Hold ``data`` in the driver (a remote copy, if any, is dropped)."""
        kind, owner, index = block_id
        with self._locked():
            self._owners.setdefault((kind, owner), {})[index] = data
            worker = self._remote.get((kind, owner), {}).pop(index, None)
            if worker is not None:
                self._drops.setdefault(worker, []).append(block_id)

    def put_remote(self, block_id: BlockId, worker: Any) -> None:
        kind, owner, index = block_id
        with self._locked():
            self._remote.setdefault((kind, owner), {})[index] = worker

    def get(self, block_id: BlockId, default: Any = None) -> Any:
        """The block's data if the driver holds it, else ``default``."""
        kind, owner, index = block_id
        return self._owners.get((kind, owner), {}).get(index, default)

    def location(self, block_id: BlockId) -> Any:
        """The key of the worker keeping a remote block, or None."""
        kind, owner, index = block_id
        return self._remote.get((kind, owner), {}).get(index)

    def __contains__(self, block_id: BlockId) -> bool:
        kind, owner, index = block_id
        return index in self._owners.get((kind, owner), ()) or index in self._remote.get((kind, owner), ())

    def owner_blocks(self, kind: str, owner_id: int) -> dict[int, Any]:
        return dict(self._owners.get((kind, owner_id), {}))

    def remove_owner(self, kind: str, owner_id: int) -> None:
        """Forget every block of ``owner_id`` (an RDD or a shuffle) now."""
        with self._locked():
            self._remove(kind, owner_id)

    def release_owner(self, kind: str, owner_id: int) -> None:
        """:meth:`remove_owner` for finalizers: the collector runs them in
        whatever thread it interrupts, possibly one inside this store's lock,
        so this only records the owner (a deque append, atomic) and the next
        call taking the lock removes its blocks."""
        self._released.append((kind, owner_id))

    def _remove(self, kind: str, owner_id: int) -> None:
        self._owners.pop((kind, owner_id), None)
        for index, worker in self._remote.pop((kind, owner_id), {}).items():
            self._drops.setdefault(worker, []).append((kind, owner_id, index))

    def drop_remote(self, worker: Any, block_ids: list[BlockId]) -> None:
        """``worker`` keeps ``block_ids`` for no one (computed by tasks whose
        stage failed): it drops them with the next message it gets."""
        with self._locked():
            self._drops.setdefault(worker, []).extend(block_ids)

    def take_drops(self, worker: Any) -> list[BlockId]:
        """Remote blocks of ``worker`` removed since the last call."""
        with self._locked():
            return self._drops.pop(worker, [])

    def forget_worker(self, worker: Any) -> None:
        """``worker`` is gone: its blocks are lost (they are recomputed from lineage)."""
        with self._locked():
            for blocks in self._remote.values():
                for index in [i for i, w in blocks.items() if w == worker]:
                    del blocks[index]
            self._drops.pop(worker, None)

    def block_count(self) -> int:
        with self._locked():
            return sum(len(v) for v in self._owners.values()) + sum(len(v) for v in self._remote.values())

    def clear(self) -> None:
        with self._locked():
            self._owners.clear()
            self._remote.clear()
            self._drops.clear()
