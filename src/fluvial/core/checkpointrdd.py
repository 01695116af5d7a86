"""RDD data checkpoints on any filesystem :mod:`fluvial.core.fsio` reaches.

Layout of one checkpointed RDD, ``<checkpoint dir>/rdd-<id>/``:

* ``part-00000``, ``part-00001``, ...: each partition's block, exactly as the
  driver's block store holds it (a pickled list of records, or the pickled
  :class:`~fluvial.core.table.KeyTable` of a per-key kernel, which iterates
  as its records);
* ``_meta``, written last: a pickle of ``{"num_partitions": n,
  "partitioner": partitioner}``.

Every file is written with :func:`fsio.atomic_write`, so no file is ever torn,
and a directory without ``_meta`` is known to be incomplete (a crash while
writing it): :func:`load` refuses it. The driver writes ``_meta`` (:func:`begin`
removes it, :func:`finish` writes it); a part is written by the worker process
keeping the block when the directory is local, else by the driver from a block
it holds, which is what lets a driver-only store such as ``memory://`` serve
worker processes. Tasks never open checkpoint files themselves: the driver
reads a lost block back and sends it as an input.

The files are pickles: loading a checkpoint runs code, so only load
checkpoints this application (or one you trust) wrote.
"""
from __future__ import annotations

import pickle
import weakref
from typing import Any

import cloudpickle

from . import fsio
from .rdd import RDD
from .shuffle import Partitioner

META = "_meta"


def part_name(split: int) -> str:
    return f"part-{split:05d}"


def part_url(path: str, split: int) -> str:
    return fsio.join(path, part_name(split))


def begin(path: str) -> None:
    """Start (re)writing the checkpoint directory ``path``: an existing
    ``_meta`` is removed first, so a rewrite interrupted half-way is never
    taken for a complete checkpoint."""
    fsio.remove(fsio.join(path, META))


def finish(path: str, num_partitions: int, partitioner: Partitioner | None) -> None:
    """Complete ``path`` once all its parts are written: ``_meta`` goes last."""
    meta = {"num_partitions": num_partitions, "partitioner": partitioner}
    fsio.atomic_write(fsio.join(path, META), cloudpickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))


def read_meta(path: str) -> dict:
    """The ``_meta`` of checkpoint directory ``path``; ValueError naming the
    directory when it is missing (an incomplete checkpoint) or unreadable."""
    url = fsio.join(path, META)
    try:
        raw = fsio.read_bytes(url)
    except FileNotFoundError:
        raise ValueError(f"checkpoint directory {path} has no {META} file: it is not a complete RDD "
                         f"checkpoint (the write was interrupted, or it is not a checkpoint)") from None
    except OSError as exc:
        raise ValueError(f"checkpoint directory {path}: cannot read {META}: {exc}") from exc
    try:
        meta = pickle.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"checkpoint directory {path}: {META} is not a valid checkpoint "
                         f"description ({type(exc).__name__}: {exc})") from exc
    n = meta.get("num_partitions") if isinstance(meta, dict) else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"checkpoint directory {path}: {META} does not hold a partition count "
                         f"(got {meta!r})")
    partitioner = meta.get("partitioner")
    if partitioner is not None and not isinstance(partitioner, Partitioner):
        raise ValueError(f"checkpoint directory {path}: {META} holds {partitioner!r} as partitioner, "
                         "which is not a Partitioner")
    return meta


def read_part(path: str, split: int) -> bytes:
    """Partition ``split``'s block from checkpoint directory ``path``;
    ValueError naming the directory and the file when it is missing or
    unreadable."""
    name = part_name(split)
    try:
        return fsio.read_bytes(fsio.join(path, name))
    except FileNotFoundError:
        raise ValueError(f"checkpoint directory {path} is missing {name} "
                         f"(partition {split} of its checkpointed RDD)") from None
    except OSError as exc:
        raise ValueError(f"checkpoint directory {path}: cannot read {name}: {exc}") from exc


class CheckpointRDD(RDD):
    """An RDD rebuilt from a checkpoint directory by ``sc._checkpointFile``:
    checkpointed from birth, with no lineage. Its blocks sit in the driver's
    block store (tasks receive them as inputs, as for any checkpointed RDD)."""

    _input_backed = True

    def __init__(self, ctx: Any, path: str, num_partitions: int, partitioner: Partitioner | None) -> None:
        super().__init__(ctx, [], num_partitions, partitioner)
        self._checkpoint_requested = True
        self._checkpointed = True
        self._checkpoint_path = path


def load(ctx: Any, path: str) -> CheckpointRDD:
    """A checkpointed RDD of the complete checkpoint directory ``path``,
    written by any earlier process; every part is read now, into the driver's
    block store. ValueError naming the directory and the file when ``_meta``
    or a part is missing or unreadable (nothing is stored then)."""
    meta = read_meta(path)
    n = meta["num_partitions"]
    blocks = [read_part(path, split) for split in range(n)]
    rdd = CheckpointRDD(ctx, path, n, meta.get("partitioner"))
    store = ctx._blocks
    for split, blob in enumerate(blocks):
        store.put(("rdd", rdd._id, split), blob)
    weakref.finalize(rdd, store.release_owner, "rdd", rdd._id)
    return rdd
