"""A key-value partition held as a dict, and the cached block it can stay as.

Per-key kernels (a window step, a state update) build their output partition
as a dict with one entry per key. When they return it as a :class:`KeyTable`,
a persisted RDD can keep that very dict as its block instead of pickling it,
provided nothing can change it: every key and value is an atom (str, bytes,
int, float, complex, bool, None) or a tuple of atoms. A reader then gets the
records without unpickling, and a kernel reading the previous partition
copies the dict in C (``RDD._table``). Anything else is pickled as before,
so each read gets fresh objects (PySpark's guarantee for cached data that a
function might mutate).

A table block goes to another worker (as a task input) pickled as a dict and
is a table there too; a worker hands it to the driver, or writes it to a
checkpoint file, as the pickled :class:`KeyTable` (:func:`block_bytes`),
which reads back as one and iterates as its records.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterator

from .shuffle import ATOMS, one_atom_type, pickle_immutable


class KeyTable:
    """One partition's ``(key, value)`` records as a dict, in its key order;
    iterating yields the pairs."""

    __slots__ = ("table",)

    def __init__(self, table: dict) -> None:
        self.table = table

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.table.items())

    def __reduce__(self) -> tuple:
        return KeyTable, (self.table,)


def _atoms(items: Any) -> bool:
    """Every object is an atom or a tuple of atoms, by exact type (a subclass
    may carry mutable state). Each pass runs in C."""
    if one_atom_type(items):
        return True
    types = set(map(type, items))
    if types <= ATOMS:
        return True
    if not types - ATOMS <= {tuple}:
        return False
    parts = set(map(type, itertools.chain.from_iterable(x for x in items if type(x) is tuple)))
    return parts <= ATOMS


def immutable(table: KeyTable) -> bool:
    """Nothing reachable from the table's keys and values can be changed."""
    return _atoms(table.table) and _atoms(table.table.values())


def block_bytes(block: "bytes | KeyTable") -> bytes:
    """A cached block as bytes, as checkpoint files and the driver keep it:
    a pickled list of records, or a pickled KeyTable, which
    ``pickle.loads`` gives back as a KeyTable iterating as the same records
    in the same order. A table block holds only atoms and tuples of atoms
    (it is kept as a table only then), so it is pickled without the memo;
    pickling the dict rather than a list of its pairs is 3 times as fast
    (no tuple per record)."""
    return pickle_immutable(block) if type(block) is KeyTable else block  # type: ignore[arg-type]
