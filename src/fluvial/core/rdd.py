"""RDD: a lazy, immutable, partitioned collection with lineage.

Transformations build lineage and return new RDDs; nothing runs until an
action. The user-facing methods come from mixins: transformations
(:mod:`fluvial.core.transforms`), actions (:mod:`fluvial.core.actions`),
key-value operations (:mod:`fluvial.core.pairs`) and numeric actions
(:mod:`fluvial.core.numeric`). This module holds what every RDD kind shares:
identity, how a partition's records are obtained (stored block or compute),
persistence and checkpointing.

Ordering guarantees: within a partition, narrow transformations keep record
order; ``collect`` returns partitions in index order. After a shuffle, the
records of one reduce partition arrive in map-partition order.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Generic, Iterator, TypeVar

from .actions import ActionMixin
from .numeric import NumericMixin
from .pairs import PairMixin
from .shuffle import Dependency, Partitioner, ShuffleDependency, read_bucket, serialize_bucket
from .storage import StorageLevel
from .table import KeyTable, block_bytes, immutable
from .task import BlocksLostError
from .transforms import TransformMixin

if TYPE_CHECKING:
    from .context import SparkContext

T = TypeVar("T")
_MISSING = object()


class RDD(TransformMixin, ActionMixin, PairMixin, NumericMixin, Generic[T]):
    """A Resilient Distributed Dataset. Create one with ``sc.parallelize`` or
    ``sc.textFile``; do not instantiate directly.

    Subclasses (in :mod:`fluvial.core.lineage` and :mod:`fluvial.core.files`)
    define ``compute`` and list the attributes that refer to parent RDDs in
    ``_parent_attrs``, so that checkpointing can cut them."""

    _parent_attrs: tuple[str, ...] = ()

    # True for RDDs whose records come only from task inputs (no files or
    # other outside sources); see DAGScheduler's inline execution.
    _input_backed = False

    def __init__(self, ctx: "SparkContext", deps: list[Dependency], num_partitions: int,
                 partitioner: Partitioner | None = None) -> None:
        self.ctx = ctx
        self._id: int = ctx._new_rdd_id()
        self._deps = deps
        self._num_partitions = num_partitions
        self.partitioner = partitioner
        self._storage_level: StorageLevel | None = None
        self._checkpointed = False
        self._checkpoint_requested = False
        self._checkpoint_local = False
        self._checkpoint_path: str | None = None
        self._name: str | None = None

    # ------------------------------------------------------------------ lineage
    def compute(self, split: int, tctx: Any) -> Iterator[T]:
        raise TypeError(f"{type(self).__name__} does not define compute()")

    def iterator(self, split: int, tctx: Any) -> Iterator[T]:
        """Records of partition ``split``: from a stored block when there is one,
        else computed (and stored, when this RDD is persisted or marked for
        checkpointing).

        A checkpointed RDD's blocks always come with the task: the driver keeps
        them in its block store and reloads a missing one from the checkpoint
        files (:meth:`_stored_block`), so a task never opens checkpoint files
        (which a worker process may not reach, e.g. ``memory://``)."""
        if not self._keeps_blocks():
            return iter(self.compute(split, tctx))
        bid = ("rdd", self._id, split)
        blob = tctx.inputs.get(bid, _MISSING)
        if blob is not _MISSING:
            return iter(blob) if type(blob) is KeyTable else iter(read_bucket(blob))
        if self._checkpointed:
            where = (f"its checkpoint {self._checkpoint_path}" if self._checkpoint_path is not None
                     else "it was checkpointed locally and the block is gone")
            raise RuntimeError(f"block {bid} of checkpointed {self!r} was not given to the task "
                               f"({where}); its lineage is cut, so it cannot be recomputed")
        # Blocks are kept serialized (as PySpark keeps them): each read gets
        # fresh objects, so a function mutating its records cannot corrupt
        # them. A kernel's dict of atoms is kept as it is (fluvial.core.table).
        out = self.compute(split, tctx)
        if type(out) is KeyTable and out.table and immutable(out):
            tctx.new_blocks[bid] = out
            return iter(out)
        data = list(out)
        tctx.new_blocks[bid] = serialize_bucket(data)
        return iter(data)

    def _stored_table(self, split: int, tctx: Any) -> dict | None:
        """The dict of partition ``split`` when its block is a table the task
        holds (shared: read it, never change it), else None."""
        if self._keeps_blocks():
            blob = tctx.inputs.get(("rdd", self._id, split), _MISSING)
            if type(blob) is KeyTable:
                return blob.table
        return None

    def _table(self, split: int, tctx: Any) -> dict:
        """A new dict of partition ``split``'s ``(key, value)`` records (the
        last value of a repeated key wins), the caller's to change: a C copy
        of a table block, the table itself when an unpersisted partition is
        computed as one, else built from :meth:`iterator`. For kernels that
        update a partition per key."""
        stored = self._stored_table(split, tctx)
        if stored is not None:
            return stored.copy()
        if not self._keeps_blocks():
            out = self.compute(split, tctx)
            return out.table if type(out) is KeyTable else dict(out)
        return dict(self.iterator(split, tctx))

    def _stored_block(self, split: int, store: Any, default: Any) -> Any:
        """Partition ``split``'s block if the driver's ``store`` holds it, else
        ``default``. In the driver only: a checkpointed RDD's block missing
        from the store (and kept by no worker) is read back from its
        checkpoint files and stored again; ValueError naming the file when
        that fails."""
        bid = ("rdd", self._id, split)
        data = store.get(bid, _MISSING)
        if data is not _MISSING:
            return data
        if self._checkpointed and self._checkpoint_path is not None and store.location(bid) is None:
            from . import checkpointrdd
            data = checkpointrdd.read_part(self._checkpoint_path, split)
            store.put(bid, data)
            return data
        return default

    def _own_inputs(self, split: int, inputs: dict, store: Any) -> None:
        """Add the driver-held blocks this RDD itself (not its parents) reads."""

    def _keeps_blocks(self) -> bool:
        """Whether computed partitions go to the block store (persisted, or
        checkpointed / marked for checkpointing, so the checkpoint does not
        recompute them)."""
        return self._storage_level is not None or self._checkpointed or self._checkpoint_requested

    def _fully_stored(self) -> bool:
        if not self._keeps_blocks():
            return False
        store = self.ctx._blocks
        return all(("rdd", self._id, s) in store for s in range(self._num_partitions))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if state.get("ctx") is not None and self._fully_stored():
            state["_deps"] = []
            for attr in self._parent_attrs:
                state[attr] = None
        state["ctx"] = None
        return state

    def id(self) -> int:
        """This RDD's id, unique within its SparkContext."""
        return self._id

    @property
    def context(self) -> "SparkContext":
        return self.ctx

    def getNumPartitions(self) -> int:
        return self._num_partitions

    def name(self) -> str | None:
        return self._name

    def setName(self, name: str) -> "RDD[T]":
        self._name = name
        return self

    def toDebugString(self) -> bytes:
        """The lineage as indented text (UTF-8 bytes, as PySpark returns)."""
        lines: list[str] = []

        def walk(r: "RDD", depth: int) -> None:
            marks = ""
            if r._fully_stored():
                marks += " [cached]" if r._storage_level is not None else ""
                marks += " [checkpointed]" if r._checkpointed else ""
            label = f" {r._name}" if r._name else ""
            lines.append(f"{'  ' * depth}({r.getNumPartitions()}) {type(r).__name__}[{r._id}]{label}{marks}")
            for d in r._deps:
                walk(d.rdd, depth + 1)
        walk(self, 0)
        return "\n".join(lines).encode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}]" + (f" {self._name}" if self._name else "")

    # ------------------------------------------------------------- persistence
    def cache(self) -> "RDD[T]":
        """``persist(StorageLevel.MEMORY_ONLY)``."""
        return self.persist(StorageLevel.MEMORY_ONLY)  # type: ignore[attr-defined]

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> "RDD[T]":  # type: ignore[attr-defined]
        """Keep computed partitions in the driver's block store; later jobs read
        them instead of recomputing the lineage. A level cannot be changed once
        assigned (``unpersist`` first), as in Spark."""
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(f"storageLevel must be of type StorageLevel, got {storageLevel!r}")
        if self._storage_level is not None and self._storage_level != storageLevel:
            raise ValueError(f"Cannot change storage level of an RDD after it was already assigned a level "
                             f"(RDD {self._id} has {self._storage_level!r}, asked for {storageLevel!r})")
        if self._storage_level is None:
            weakref.finalize(self, self.ctx._blocks.release_owner, "rdd", self._id)
        self._storage_level = storageLevel
        return self

    def unpersist(self, blocking: bool = False) -> "RDD[T]":
        """Drop stored partitions (kept if the RDD is checkpointed)."""
        self._storage_level = None
        if not self._checkpointed:
            self.ctx._blocks.remove_owner("rdd", self._id)
        return self

    def cleanShuffleDependencies(self, blocking: bool = False) -> None:
        """Drop the stored map output of every shuffle in this RDD's lineage,
        walking through ancestors that are not persisted (a later job
        recomputes what it needs)."""
        stack = list(self._deps)
        while stack:
            dep = stack.pop()
            if isinstance(dep, ShuffleDependency):
                self.ctx._blocks.remove_owner("shuffle", dep.shuffle_id)
            if dep.rdd._storage_level is None and not dep.rdd._checkpointed:
                stack.extend(dep.rdd._deps)

    def getStorageLevel(self) -> StorageLevel:
        return self._storage_level or StorageLevel.NONE  # type: ignore[attr-defined]

    @property
    def is_cached(self) -> bool:
        return self._storage_level is not None

    @property
    def is_checkpointed(self) -> bool:
        return self._checkpoint_requested

    def checkpoint(self) -> None:
        """Mark for checkpointing: after the next job that computes this RDD,
        its partitions are written under the context's checkpoint directory and
        its lineage is cut (parents are no longer referenced or recomputed)."""
        if self.ctx._checkpoint_dir is None:
            raise RuntimeError("Checkpoint directory has not been set in the SparkContext: "
                               "call sc.setCheckpointDir(dir) first")
        self._checkpoint_requested = True

    def localCheckpoint(self) -> None:
        """Like checkpoint, but the data stays in the driver's block store only
        (faster, not written to disk)."""
        self._checkpoint_requested = True
        self._checkpoint_local = True

    def isCheckpointed(self) -> bool:
        return self._checkpointed

    def isLocallyCheckpointed(self) -> bool:
        return self._checkpointed and self._checkpoint_local

    def getCheckpointFile(self) -> str | None:
        return self._checkpoint_path

    def _do_checkpoint(self) -> None:
        """Materialise and cut lineage (called by the context after a job).

        Unless locally checkpointed, every partition is written under
        ``<checkpoint dir>/rdd-<id>/`` (:mod:`fluvial.core.checkpointrdd`:
        parts first, ``_meta`` last, each file written atomically and
        durably). A partition a worker process keeps is written by that
        worker when the directory is local, as Spark's executors write
        theirs, and stays there; any other partition is held by the driver's
        block store (fetched from its worker, or computed when no one has it)
        and written by the driver. Once checkpointed, a block lost with its
        worker is read back from its file (:meth:`_stored_block`); a locally
        checkpointed RDD's blocks all live in the driver. The blocks stay
        while this RDD lives; the files are never deleted here (streaming
        decides when an old data checkpoint goes)."""
        if self._checkpointed or not self._checkpoint_requested:
            return
        store = self.ctx._blocks
        bids = [("rdd", self._id, s) for s in range(self._num_partitions)]
        path = None
        saved: set = set()
        if not self._checkpoint_local:
            from . import checkpointrdd, fsio
            path = fsio.join(self.ctx._checkpoint_dir, f"rdd-{self._id}")
            checkpointrdd.begin(path)
            if fsio.is_local(path):
                kept = {bid: checkpointrdd.part_url(path, bid[2]) for bid in bids
                        if store.location(bid) is not None}
                try:
                    self.ctx._dag.save_blocks(kept)
                    saved = set(kept)
                except BlocksLostError:
                    pass  # computed again below and written by the driver
        missing = [s for s, bid in enumerate(bids) if bid not in store]
        if missing:
            parts = self.ctx._run_job(self, list, missing, checkpoint=False)
            for s, data in zip(missing, parts):
                store.put(bids[s], serialize_bucket(data))
        remote = [bid for bid in bids if bid not in saved and store.location(bid) is not None]
        for bid, data in self.ctx._dag.read_blocks(remote).items():
            store.put(bid, data)
        if path is not None:
            for bid in bids:
                if bid not in saved:
                    fsio.atomic_write(checkpointrdd.part_url(path, bid[2]), block_bytes(store.get(bid)))
            checkpointrdd.finish(path, self._num_partitions, self.partitioner)
            self._checkpoint_path = path
        weakref.finalize(self, store.release_owner, "rdd", self._id)
        self._checkpointed = True
        self._deps = []
        for attr in self._parent_attrs:
            setattr(self, attr, None)
