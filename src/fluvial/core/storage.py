"""Storage levels and the driver's block store.

A *block* is one materialised partition: a cached RDD partition
(``("rdd", rdd_id, split)``) or one map task's output for one reduce partition
(``("shuffle", shuffle_id, map_id)`` holding a list of buckets). Blocks live in
the driver process; tasks receive the blocks they read as inputs and return the
blocks they create. Executors therefore never need a channel back to the driver
while a task runs.
"""
from __future__ import annotations

import threading
from typing import Any


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
    """Thread-safe map from block id to materialised data, owned by the driver.

    Guarantees: a block once put is returned unchanged until removed; removing
    all blocks of one RDD or shuffle is idempotent (it runs from finalizers) and
    costs only that owner's blocks."""

    def __init__(self) -> None:
        self._owners: dict[tuple[str, int], dict[int, Any]] = {}
        self._lock = threading.Lock()

    def put(self, block_id: BlockId, data: Any) -> None:
        kind, owner, index = block_id
        with self._lock:
            self._owners.setdefault((kind, owner), {})[index] = data

    def get(self, block_id: BlockId, default: Any = None) -> Any:
        kind, owner, index = block_id
        return self._owners.get((kind, owner), {}).get(index, default)

    def __contains__(self, block_id: BlockId) -> bool:
        kind, owner, index = block_id
        return index in self._owners.get((kind, owner), ())

    def owner_blocks(self, kind: str, owner_id: int) -> dict[int, Any]:
        return dict(self._owners.get((kind, owner_id), {}))

    def remove_owner(self, kind: str, owner_id: int) -> None:
        with self._lock:
            self._owners.pop((kind, owner_id), None)

    def block_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._owners.values())

    def clear(self) -> None:
        with self._lock:
            self._owners.clear()
