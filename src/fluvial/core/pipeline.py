"""Fusing narrow transformations into one loop per partition.

A :class:`~fluvial.core.lineage.PipelinedRDD` keeps its work as a list of
steps. Runs of per-record steps (map, flatMap, filter) are compiled into one
Python function with nested ``for`` loops -- no generator hop or extra call
per record between steps -- and a key combine (the map side of
``reduceByKey``/``combineByKey``) that ends such a run is done inside the same
loop. Whole-partition functions (``mapPartitions``) are applied as given.

Semantics are those of the unfused chain: records keep their order, runs
without a combine stay lazy (a generator), and a ``StopIteration`` raised by a
user function fails the task instead of silently ending the partition (the
compiled run is a generator, so PEP 479 applies; in a combine the exception
propagates and the task turns it into an error). Compiled code is cached by
the shape of the run, so each shape is compiled once per process.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from .shuffle import identity


@dataclass(frozen=True)
class RecordStep:
    """``kind`` is ``"map"``, ``"flatMap"`` or ``"filter"``; ``f`` the user function."""

    kind: str
    f: Callable[[Any], Any]


@dataclass(frozen=True)
class CombineStep:
    """Fold ``(key, value)`` records into one combiner per key, in first-seen key order."""

    create: Callable[[Any], Any]
    merge: Callable[[Any, Any], Any]


@dataclass(frozen=True)
class PartitionStep:
    """``f(split, iterator) -> iterable`` over the whole partition."""

    f: Callable[[int, Iterator], Iterable]


Step = RecordStep | CombineStep | PartitionStep
_FACTORIES: dict[tuple, Callable[..., Callable[[int, Iterator], Iterable]]] = {}


def compile_steps(steps: tuple) -> Callable[[int, Iterator], Iterable]:
    """One ``(split, iterator) -> iterable`` function doing ``steps`` in order."""
    stages: list[Callable[[int, Iterator], Iterable]] = []
    run: list[Any] = []
    for step in steps:
        if isinstance(step, RecordStep):
            run.append(step)
        elif isinstance(step, CombineStep):
            stages.append(_compile_run(run, step))
            run = []
        else:
            if run:
                stages.append(_compile_run(run, None))
                run = []
            stages.append(step.f)
    if run:
        stages.append(_compile_run(run, None))
    if len(stages) == 1:
        return stages[0]

    def chain(split: int, iterator: Iterator) -> Iterable:
        for stage in stages:
            iterator = stage(split, iterator)
        return iterator
    return chain


def _compile_run(run: list[RecordStep], combine: CombineStep | None) -> Callable[[int, Iterator], Iterable]:
    shape = (tuple(s.kind for s in run),
             None if combine is None else combine.create is identity,
             combine is not None and combine.merge is operator.add)
    factory = _FACTORIES.get(shape)
    if factory is None:
        factory = _FACTORIES[shape] = _build_factory(*shape)
    args = [s.f for s in run]
    if combine is not None:
        args += [combine.create, combine.merge]
    return factory(*args)


def _build_factory(kinds: tuple[str, ...], identity_create: bool | None, adds: bool) -> Callable[..., Any]:
    params = [f"f{i}" for i in range(len(kinds))]
    if identity_create is not None:
        params += ["create", "merge"]
    body = ["def run(split, it):"]
    if identity_create is not None:
        body += ["    acc = {}"]
    body.append("    for x0 in it:")
    depth, var = 2, "x0"
    for i, kind in enumerate(kinds):
        pad, nxt = "    " * depth, f"x{i + 1}"
        if kind == "map":
            body.append(f"{pad}{nxt} = f{i}({var})")
        elif kind == "flatMap":
            body.append(f"{pad}for {nxt} in f{i}({var}):")
            depth += 1
        elif kind == "filter":
            body.append(f"{pad}if not f{i}({var}):")
            body.append(f"{pad}    continue")
            nxt = var
        else:
            raise ValueError(f"unknown record step {kind!r}")
        var = nxt
    pad = "    " * depth
    if identity_create is None:
        body.append(f"{pad}yield {var}")
    else:
        if body[-1].lstrip().startswith(f"{var} = "):  # a final map unpacks straight into k, v
            body[-1] = body[-1].replace(f"{var} = ", "k, v = ", 1)
        else:
            body.append(f"{pad}k, v = {var}")
        merged = "old + v" if adds else "merge(old, v)"  # operator.add inlined: the same call, no lookup
        # a dict lookup that mostly hits: try/except costs nothing when it does,
        # and only a missing key (not an error inside merge) takes the except path
        body += [f"{pad}try:", f"{pad}    old = acc[k]", f"{pad}except KeyError:",
                 f"{pad}    acc[k] = {'v' if identity_create else 'create(v)'}",
                 f"{pad}else:", f"{pad}    acc[k] = {merged}"]
        body.append("    return iter(acc.items())")
    source = f"def factory({', '.join(params)}):\n" + "\n".join("    " + line for line in body) + "\n    return run\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<fluvial pipeline {'/'.join(kinds) or 'combine'}>", "exec"), namespace)
    return namespace["factory"]
