"""Rebuilding a StreamingContext from its newest usable metadata checkpoint.

Order of trust: the store skips files that do not verify (torn, flipped,
unsigned or wrongly signed) with a warning; a checkpoint whose data
checkpoints are gone is skipped with a warning too; a checkpoint that
verifies but cannot be loaded (another format, another program, changed
code) stops recovery with a :class:`CheckpointError` rather than silently
falling back to older state.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...core import fsio
from ...core.conf import SparkConf
from ...core.context import SparkContext
from ..clock import clock_from_conf
from .metadata import (SIGNING_KEY_CONF, Checkpoint, CheckpointError, MissingDataError, check_program,
                       load_graph, read_checkpoints, recovery_conf, signing_key)

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming")

def recover(cls: type["StreamingContext"], path: str) -> "StreamingContext | None":
    """The context saved in ``path``, or None when ``path`` holds no checkpoint."""
    path = fsio.canonical(path)
    conf = recovery_conf()
    checkpoints = list(read_checkpoints(path, conf))
    if not checkpoints:
        return None
    sc: SparkContext | None = None
    skipped: list[str] = []
    for ckpt in checkpoints:
        check_program(ckpt, conf, path)
        if sc is None:
            sc = _spark_context(ckpt, conf)
        ssc = _shell(cls, sc, ckpt)
        try:
            graph = load_graph(ckpt, sc, ssc)
        except MissingDataError as exc:
            log.warning("checkpoint of batch %d ms in %s is not usable: %s; trying the previous one",
                        ckpt.time_ms, path, exc)
            skipped.append(f"checkpoint-{ckpt.time_ms}: {exc}")
            continue
        _install(ssc, graph, ckpt, path, {c.time_ms: (c.refs, min([c.time_ms, *c.pending])) for c in checkpoints})
        log.info("recovered the StreamingContext from the checkpoint of batch %d ms in %s",
                 ckpt.time_ms, path)
        return ssc
    raise CheckpointError(f"no usable checkpoint in {path}: " + "; ".join(skipped))


def _spark_context(ckpt: Checkpoint, conf: Any) -> SparkContext:
    active = SparkContext._active_spark_context
    if active is not None:
        return active
    new = SparkConf(loadDefaults=True).setAll(ckpt.conf)
    key = signing_key(conf)
    if key is not None:
        new.set(SIGNING_KEY_CONF, key)
    return SparkContext(conf=new)


def _shell(cls: type["StreamingContext"], sc: SparkContext, ckpt: Checkpoint) -> "StreamingContext":
    """An empty context with the checkpoint's batch duration and, for a
    manual clock, the clock set to the checkpoint's time (plus
    ``spark.streaming.manualClock.jump``, as in Spark)."""
    ssc = cls.__new__(cls)
    jump = sc._conf.getInt("spark.streaming.manualClock.jump", 0)
    ssc._setup(sc, ckpt.batch_ms, clock_from_conf(sc._conf, start_ms=ckpt.time_ms + jump))
    return ssc


def _install(ssc: "StreamingContext", graph: Any, ckpt: Checkpoint, path: str,
             known: dict[int, tuple[list[str], int]]) -> None:
    ssc._graph = graph
    ssc._recovered = ckpt
    ssc._known_checkpoints = known
    ssc.checkpoint(path)
    for stream in graph.all_streams():
        stream._restore(ssc)
