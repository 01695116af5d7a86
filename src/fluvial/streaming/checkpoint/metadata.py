"""Metadata checkpoints: everything a restarted driver needs to carry on.

A metadata checkpoint of batch time ``t`` holds the configuration, the batch
duration, the batch times generated but not completed (pending), and the
whole DStream graph with its functions, pickled with cloudpickle. Inside the
graph:

* each stream keeps its plain attributes (see ``DStream.__getstate__``), so
  sources keep what a batch re-run must read again (files per batch, block
  allocations, offset ranges);
* every RDD becomes a reference to its data checkpoint directory: stream
  RDDs whose checkpoint is written, and any other RDD the graph holds (an
  initial state, an RDD captured by a function), which is checkpointed the
  first time it is met. Recovery reads them back with
  ``SparkContext._checkpointFile``;
* the SparkContext and StreamingContext become the recovering ones;
  broadcast variables are broadcast again and accumulators come back with
  their value at the checkpoint.

The checkpoint also records a signature of the graph (stream types,
durations, wiring, and a digest of every function's code) and a digest of the
main script. Recovery refuses a checkpoint whose graph no longer matches the
code that loads it (a function imported from a module has changed), or that
was written by a different main script, instead of half-loading it.

Checkpoints are pickles: loading one runs code. Only recover from a
directory you control, or set ``spark.fluvial.checkpoint.signingKey`` (or the
``FLUVIAL_CHECKPOINT_SIGNING_KEY`` environment variable) so that a
checkpoint not signed with that key is refused.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import os
import pickle
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Iterable

import cloudpickle

from ...core import fsio
from ...core.accumulators import Accumulator
from ...core.broadcast import Broadcast
from ...core.context import SparkContext, __version__
from ...core.rdd import RDD
from .store import CheckpointError, CheckpointStore

if TYPE_CHECKING:
    from ..context import StreamingContext
    from ..graph import DStreamGraph

log = logging.getLogger("fluvial.streaming")

SIGNING_KEY_CONF = "spark.fluvial.checkpoint.signingKey"
SIGNING_KEY_ENV = "FLUVIAL_CHECKPOINT_SIGNING_KEY"
KEEP_CONF = "spark.fluvial.checkpoint.keep"
ALLOW_PROGRAM_CHANGE_CONF = "spark.fluvial.checkpoint.allowProgramChange"
_PRIVATE_CONF = (SIGNING_KEY_CONF,)


# ------------------------------------------------------------------ writing
class _CheckpointPickler(cloudpickle.Pickler):
    """cloudpickle, with RDDs, contexts, broadcasts and accumulators replaced
    by what recovery rebuilds them from; records the data directories used."""

    def __init__(self, file: io.BytesIO, refs: set[str]) -> None:
        super().__init__(file, protocol=5)
        self.refs = refs

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, RDD):
            path = _durable_path(obj)
            self.refs.add(path)
            return _restore_rdd, (path,)
        if isinstance(obj, SparkContext):
            return _restored_spark_context, ()
        if _is_streaming_context(obj):
            return _restored_streaming_context, ()
        if isinstance(obj, Broadcast):
            return _restore_broadcast, (obj._id, obj.value)
        if isinstance(obj, Accumulator):
            return _restore_accumulator, (obj.aid, obj._value, obj.accum_param)
        return super().reducer_override(obj)


@functools.cache
def _streaming_context_type() -> type:
    from ..context import StreamingContext  # the context imports this module
    return StreamingContext


def _is_streaming_context(obj: Any) -> bool:
    return isinstance(obj, _streaming_context_type())


def _durable_path(rdd: RDD) -> str:
    """The data checkpoint directory of ``rdd``, written now if it has none."""
    path = rdd.getCheckpointFile() if rdd.isCheckpointed() else None
    if path is not None:
        return path
    if rdd.isLocallyCheckpointed():
        raise CheckpointError(f"RDD {rdd.id()} is locally checkpointed, which cannot be saved in a metadata "
                              "checkpoint; use rdd.checkpoint() (reliable) for RDDs a streaming program keeps")
    rdd.checkpoint()
    rdd._do_checkpoint()
    path = rdd.getCheckpointFile()
    if path is None:  # pragma: no cover - _do_checkpoint always sets it for reliable checkpoints
        raise CheckpointError(f"RDD {rdd.id()} could not be checkpointed")
    return path


def main_script() -> dict[str, str] | None:
    """Path, SHA-256 and code digest of the running program's main script
    (None without one). The code digest is that of the compiled script
    (:func:`_code_digest`: bytecode, names and constants, not line numbers),
    so comments, blank lines and formatting do not change it."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        source = f.read()
    found = {"path": os.path.abspath(path), "sha256": hashlib.sha256(source).hexdigest()}
    try:
        found["code"] = _code_digest(compile(source, path, "exec", dont_inherit=True))
    except (SyntaxError, ValueError):  # not Python source (a zipapp, ...): the bytes decide
        pass
    return found


def graph_signature(graph: "DStreamGraph") -> list[tuple]:
    """Types, durations, wiring and function code digests of the graph's streams, in order."""
    streams = graph.all_streams()
    index = {id(s): i for i, s in enumerate(streams)}
    sig = []
    for s in streams:
        funcs = tuple((a, _code_digest(getattr(s, a, None))) for a in s._function_attrs)
        sig.append((f"{type(s).__module__}.{type(s).__qualname__}", s._slide_ms,
                    tuple(index.get(id(p), -1) for p in s._parents), funcs))
    return sig


def _code_digest(obj: Any, depth: int = 0) -> str:
    """A digest of what a function does: its code (recursively through nested
    code, closures, partials and callable objects), not where it lives."""
    h = hashlib.sha256()

    def feed(x: Any, d: int) -> None:
        if d > 6:
            return
        if isinstance(x, types.FunctionType):
            h.update(f"{x.__module__}.{x.__qualname__}".encode())
            feed(x.__code__, d + 1)
            for cell in x.__closure__ or ():
                try:
                    feed(cell.cell_contents, d + 1)
                except ValueError:  # empty cell
                    pass
        elif isinstance(x, types.CodeType):
            h.update(x.co_code)
            h.update(repr(x.co_names).encode())
            for c in x.co_consts:
                feed(c, d + 1)
        elif isinstance(x, functools.partial):
            feed(x.func, d + 1)
            for a in x.args:
                feed(a, d + 1)
        elif isinstance(x, (types.BuiltinFunctionType, type)):
            h.update(f"{getattr(x, '__module__', '')}.{getattr(x, '__qualname__', x)}".encode())
        elif isinstance(x, (str, bytes, int, float, bool, type(None))):
            h.update(repr(x).encode())
        elif isinstance(x, (tuple, list)):
            for y in x:
                feed(y, d + 1)
        elif callable(x) or (d == depth and hasattr(x, "__dict__")):
            # a callable object (or the spec holding a stream's functions):
            # its type and the functions it holds; plain data is not code
            h.update(f"{type(x).__module__}.{type(x).__qualname__}".encode())
            for k, v in sorted(getattr(x, "__dict__", {}).items()):
                if callable(v):
                    h.update(k.encode())
                    feed(v, d + 1)

    feed(obj, depth)
    return h.hexdigest()[:16]


@dataclasses.dataclass
class Checkpoint:
    """One metadata checkpoint, as written and as read back."""

    time_ms: int
    pending: list[int]
    master: str
    app_name: str
    conf: list[tuple[str, str]]
    batch_ms: int
    checkpoint_dir: str
    clock_ms: int
    program: dict[str, str] | None
    signature: list[tuple]
    refs: list[str]
    fluvial_version: str
    graph_bytes: bytes = b""


def serialize(ssc: "StreamingContext", t: int, pending: Iterable[int]) -> tuple[bytes, list[str]]:
    """The payload of the checkpoint of batch ``t`` and the data directories it refers to.

    The caller holds the graph lock, so no batch is generated meanwhile."""
    graph = ssc._graph
    refs: set[str] = set()
    buf = io.BytesIO()
    _CheckpointPickler(buf, refs).dump(graph)
    conf = [(k, v) for k, v in ssc._sc._conf.getAll() if k not in _PRIVATE_CONF]
    meta = Checkpoint(t, sorted(pending), ssc._sc.master, ssc._sc.appName, conf, ssc._batch_ms,
                      ssc._checkpoint_dir or "", ssc._clock.time_ms(), ssc._program,
                      ssc._signature, sorted(refs), __version__)
    fields = dataclasses.asdict(meta)
    fields["graph_bytes"] = buf.getvalue()
    return pickle.dumps(fields, protocol=5), sorted(refs)


def parse(payload: bytes) -> Checkpoint:
    fields = pickle.loads(payload)
    return Checkpoint(**fields)


class CheckpointWriter:
    """Writes a context's metadata checkpoints and deletes data checkpoints
    (and source logs, through ``DStream._checkpoint_done``) that no kept
    checkpoint needs any more.

    ``write(t, pending)`` pickles the graph at once (the caller holds the
    graph lock, so the snapshot is consistent). With ``wait`` it returns once
    the checkpoint is durable (see CheckpointStore); the scheduler writes
    this way after generating a batch, before its jobs run. Without ``wait``
    the file is written by a background thread (the scheduler's write after
    a batch completes, off the batch's critical path); a newer checkpoint
    replaces one still waiting to be written. An error of a background write
    is raised by the next ``write`` or by :meth:`close`."""

    def __init__(self, ssc: "StreamingContext", url: str, *,
                 known: dict[int, tuple[list[str], int]] | None = None) -> None:
        self.ssc = ssc
        keep = ssc._sc._conf.getInt(KEEP_CONF, 3)
        self.store = CheckpointStore(url, keep=keep, signing_key=signing_key(ssc._sc._conf))
        # per kept checkpoint: the data directories it refers to, and the
        # oldest batch a recovery from it would run again (its first pending
        # batch, else its own time)
        self._refs: dict[int, list[str]] = {t: r for t, (r, _) in (known or {}).items()}
        self._floors: dict[int, int] = {t: f for t, (_, f) in (known or {}).items()}
        self._lock = threading.Lock()          # one store write (and its clean-up) at a time
        self._cond = threading.Condition()
        self._queued: tuple | None = None
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._newest = -1
        self._stream_rdds: set[int] = set()   # ids of data-checkpointed RDDs streams held at some checkpoint
        self._earlier_runs_left = True         # data checkpoints of a run before a recovery may be left

    def write(self, t: int, pending: Iterable[int], wait: bool = True) -> None:
        pending = sorted(pending)
        payload, refs = serialize(self.ssc, t, pending)
        floor = min([t, *pending])
        generated = [rdd for st in self.ssc._graph.all_streams() for rdd in st._generated.values()]
        live = {rdd.id() for rdd in generated}
        checkpointed = {rdd.id() for rdd in generated if rdd.is_checkpointed}
        horizon = self.ssc._sc._new_rdd_id()  # RDDs made after this snapshot have larger ids
        item = (t, payload, refs, floor, live, checkpointed, horizon)
        with self._cond:
            self._raise_error()
            if self._queued is not None and self._queued[0] <= t:
                self._queued = None  # superseded by this newer checkpoint
            if not wait:
                self._queued = item
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="fluvial-checkpoint-writer",
                                                    daemon=True)
                    self._thread.start()
                self._cond.notify_all()
                return
        self._commit(*item)

    def flush(self) -> None:
        """Wait until no checkpoint is waiting to be written; raise a background error."""
        with self._cond:
            while (self._queued is not None or self._busy) and self._error is None:
                self._cond.wait()
            self._raise_error()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._queued is None and not self._closed:
                    self._cond.wait()
                if self._queued is None:
                    return
                item, self._queued, self._busy = self._queued, None, True
            try:
                self._commit(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the next write / close
                log.error("writing the metadata checkpoint of batch %d ms failed: %s", item[0], exc)
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _commit(self, t: int, payload: bytes, refs: list[str], floor: int, live: set[int],
                checkpointed: set[int], horizon: int) -> None:
        with self._lock:
            self._stream_rdds |= checkpointed
            if t >= self._newest:  # else a newer checkpoint is already durable
                self.store.write(t, payload)
                self._newest = t
                self._refs[t], self._floors[t] = refs, floor
            kept = set(self.store.generations())
            self._refs = {g: r for g, r in self._refs.items() if g in kept}
            self._floors = {g: f for g, f in self._floors.items() if g in kept}
            self._delete_unneeded_data({p for r in self._refs.values() for p in r}, live, horizon)
            oldest = min(self._floors.values(), default=floor)
        for s in self.ssc._graph.all_streams():
            s._checkpoint_done(oldest - (s._remember_ms or s._slide_ms))

    def _delete_unneeded_data(self, needed: set[str], live: set[int], horizon: int) -> None:
        """Delete the data checkpoints of stream RDDs that no kept checkpoint
        refers to and no stream holds any more, and those an earlier run left
        that no kept checkpoint refers to. Other checkpoints (an RDD the
        program checkpointed itself) are left alone. Lists directories only
        while an earlier run's data is left."""
        own = self.ssc._sc.getCheckpointDir()
        if own is not None:
            for rid in [r for r in self._stream_rdds if r < horizon and r not in live]:
                path = fsio.join(own, f"rdd-{rid}")
                if path not in needed:
                    self._stream_rdds.discard(rid)
                    fsio.remove(path, recursive=True)
        if not self._earlier_runs_left:
            return
        root = fsio.join(self.store.url, "rdds")
        left = False
        for app in fsio.list_names(root):
            app_dir = fsio.join(root, app)
            if own is not None and app_dir == fsio.join(own):
                continue
            kept = False
            for name in fsio.list_names(app_dir):
                path = fsio.join(app_dir, name)
                if path in needed:
                    kept = True
                else:
                    fsio.remove(path, recursive=True)
            if kept:
                left = True
            else:
                fsio.remove(app_dir, recursive=True)
        self._earlier_runs_left = left


def signing_key(conf: Any) -> str | None:
    return conf.get(SIGNING_KEY_CONF) or os.environ.get(SIGNING_KEY_ENV) or None


# ----------------------------------------------------------------- reading
class _Restoring(threading.local):
    sc: SparkContext | None = None
    ssc: "StreamingContext | None" = None
    rdds: dict[str, RDD] | None = None
    broadcasts: dict[int, Broadcast] | None = None


_restoring = _Restoring()


class MissingDataError(CheckpointError):
    """A data checkpoint the metadata checkpoint refers to is gone or unreadable."""


def _restore_rdd(path: str) -> RDD:
    cache = _restoring.rdds
    sc = _restoring.sc
    if cache is None or sc is None:
        raise CheckpointError("a fluvial checkpoint can only be loaded by StreamingContext.getOrCreate")
    if path not in cache:
        try:
            cache[path] = sc._checkpointFile(path)
        except (ValueError, OSError) as exc:
            raise MissingDataError(f"data checkpoint {path}: {exc}") from exc
    return cache[path]


def _restored_spark_context() -> SparkContext:
    if _restoring.sc is None:
        raise CheckpointError("a fluvial checkpoint can only be loaded by StreamingContext.getOrCreate")
    return _restoring.sc


def _restored_streaming_context() -> "StreamingContext":
    if _restoring.ssc is None:
        raise CheckpointError("a fluvial checkpoint can only be loaded by StreamingContext.getOrCreate")
    return _restoring.ssc


def _restore_broadcast(bid: int, value: Any) -> Broadcast:
    cache = _restoring.broadcasts
    if cache is None or _restoring.sc is None:
        raise CheckpointError("a fluvial checkpoint can only be loaded by StreamingContext.getOrCreate")
    if bid not in cache:
        cache[bid] = _restoring.sc.broadcast(value)
    return cache[bid]


def _restore_accumulator(aid: int, value: Any, param: Any) -> Accumulator:
    if _restoring.sc is None:
        raise CheckpointError("a fluvial checkpoint can only be loaded by StreamingContext.getOrCreate")
    return _restoring.sc.accumulator(value, param)


def load_graph(ckpt: Checkpoint, sc: SparkContext, ssc: "StreamingContext") -> "DStreamGraph":
    """Unpickle the graph of ``ckpt`` against the recovering contexts.

    Raises :class:`MissingDataError` when a data checkpoint it refers to is
    missing (an older checkpoint may still be usable) and
    :class:`CheckpointError` when the graph cannot be loaded at all or no
    longer matches the code that loads it."""
    _restoring.sc, _restoring.ssc, _restoring.rdds, _restoring.broadcasts = sc, ssc, {}, {}
    try:
        graph = cloudpickle.loads(ckpt.graph_bytes)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure refuses the checkpoint
        raise CheckpointError(
            f"the checkpoint of batch {ckpt.time_ms} ms was written by fluvial {ckpt.fluvial_version} for "
            f"a program this process cannot load: {type(exc).__name__}: {exc}. Run the program and fluvial "
            "version that wrote it, or delete the checkpoint directory to start afresh") from exc
    finally:
        _restoring.sc = _restoring.ssc = _restoring.rdds = _restoring.broadcasts = None
    now = graph_signature(graph)
    if now != ckpt.signature:
        changed = [f"{old[0]} (stream {i})" for i, (old, new) in enumerate(zip(ckpt.signature, now)) if old != new]
        if len(now) != len(ckpt.signature):
            changed.append(f"{len(ckpt.signature)} streams then, {len(now)} now")
        raise CheckpointError(
            f"the DStream graph in the checkpoint of batch {ckpt.time_ms} ms no longer matches the code that "
            f"loads it (changed: {', '.join(changed)}): a function it uses has changed since. Delete the "
            "checkpoint directory to start afresh with the new code, or run the code that wrote it")
    return graph


def check_program(ckpt: Checkpoint, conf: Any, where: str) -> None:
    """Refuse a checkpoint written by a main script whose code differs (unless
    allowed); an edit to comments or layout only is accepted."""
    now = main_script()
    then = ckpt.program
    if then is None or now is None or then["sha256"] == now["sha256"]:
        return
    if then.get("code") is not None and then.get("code") == now.get("code"):
        log.info("recovering from %s: %s changed since in comments or layout only", where, now["path"])
        return
    if str(conf.get(ALLOW_PROGRAM_CHANGE_CONF, "false")).lower() == "true":
        log.warning("recovering from %s although the program changed since (%s was %s, is %s)",
                    where, now["path"], then["sha256"][:12], now["sha256"][:12])
        return
    raise CheckpointError(
        f"the checkpoint in {where} was written by a different program: {then['path']} (sha256 "
        f"{then['sha256'][:12]}…), and this is {now['path']} (sha256 {now['sha256'][:12]}…). A checkpoint "
        "holds the program's graph and functions, so the changed code would not run. Delete the "
        "checkpoint directory to start afresh, or set "
        f"{ALLOW_PROGRAM_CHANGE_CONF}=true to recover with the checkpointed graph anyway")


def recovery_conf() -> Any:
    """Settings that apply before a checkpoint is read: defaults, an active SparkContext's conf."""
    from ...core.conf import SparkConf
    conf = SparkConf()
    active = SparkContext._active_spark_context
    if active is not None:
        conf.setAll(active._conf.getAll())
    return conf


def read_checkpoints(url: str, conf: Any) -> Iterable[Checkpoint]:
    """Usable checkpoints in ``url``, newest first (corrupt ones skipped with
    a warning by the store). Raises CheckpointError if files exist but none verifies."""
    store = CheckpointStore(url, keep=max(1, conf.getInt(KEEP_CONF, 3)), signing_key=signing_key(conf))
    if not store.generations():
        return
    found = False
    for _t, payload in store.valid():
        found = True
        yield parse(payload)
    if not found:
        store.read_latest()  # raises the error that lists every file and why


__all__ = ["Checkpoint", "CheckpointError", "CheckpointWriter", "MissingDataError", "check_program",
           "graph_signature", "load_graph", "main_script", "read_checkpoints", "recovery_conf", "serialize",
           "signing_key"]
