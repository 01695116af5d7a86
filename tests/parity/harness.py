"""Engine-agnostic runner for the parity programs.

A parity program (a module in :mod:`parity.programs`) builds a streaming graph
with nothing but the public PySpark API::

    BATCHES_TO_RUN = 6          # clock advances of one batch interval each
    ORDER = "exact"             # or "sorted"; a comment in the module says why

    def build(ssc, sc, emit, workdir):
        lines = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
        emit("words", lines.flatMap(str.split))

so the same code runs on PySpark and on fluvial: the engine is chosen by whose
``SparkContext``/``StreamingContext`` is passed in. ``emit(name, dstream)``
records every RDD the stream produces (``repr`` of each record, in
``collect()`` order, with the batch time); everything a batch prints
(``pprint``) and every file written under ``workdir/out`` are recorded too.

:func:`run_program` drives a program batch by batch through an
:class:`Engine`, which knows how to make a context on a manual clock and how
to advance that clock by one batch and wait for the batch to finish.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import os
import pkgutil
import sys
import threading
import time
from datetime import datetime
from types import ModuleType
from typing import Any, Callable, Protocol

BATCH_SECONDS = 1
BATCH_MS = BATCH_SECONDS * 1000
ORDERS = ("exact", "sorted")

# Records collected by emit(), per run id. Module-level so that the output
# functions registered with foreachRDD capture only strings and stay
# picklable: PySpark serialises the whole DStream graph, output functions
# included, in its metadata checkpoints when ssc.checkpoint() is set.
_RUNS: dict[str, dict[str, list[dict[str, Any]]]] = {}
_RUNS_LOCK = threading.Lock()


class Engine(Protocol):
    """What :func:`run_program` needs from an engine."""

    name: str

    def new_context(self, sc: Any) -> Any:
        """A StreamingContext on ``sc`` with a BATCH_SECONDS batch interval
        and a manual clock at 0."""

    def before_build(self, ssc: Any) -> None:
        """Hook run before the program builds its graph."""

    def advance_one_batch(self, ssc: Any, batch_time_ms: int) -> None:
        """Move the clock to ``batch_time_ms`` and return once that batch has
        been processed; raise if the batch or the context failed."""

    def check_failed(self, ssc: Any) -> None:
        """Raise the error of a failed batch, if any."""


def batch_time_ms(t: datetime) -> int:
    """The batch time in ms of the ``datetime`` given to output functions
    (the inverse of ``datetime.fromtimestamp(ms / 1000)``, as PySpark's
    ``rddToFileName`` computes it)."""
    return int(time.mktime(t.timetuple())) * 1000 + t.microsecond // 1000


def _store(run_id: str, name: str, t: datetime, records: list[Any]) -> None:
    reprs = [repr(r) for r in records]
    entry = {"time": batch_time_ms(t), "records": reprs, "sorted": sorted(reprs)}
    with _RUNS_LOCK:
        _RUNS[run_id][name].append(entry)


def _make_emit(run_id: str) -> Callable[[str, Any], None]:
    def emit(name: str, dstream: Any) -> None:
        with _RUNS_LOCK:
            outputs = _RUNS[run_id]
            if name in outputs:
                raise ValueError(f"emit: output name {name!r} is used twice in one program")
            outputs[name] = []

        def collect(t: datetime, rdd: Any) -> None:
            _store(run_id, name, t, rdd.collect())
        dstream.foreachRDD(collect)
    return emit


class _Tee(io.TextIOBase):
    """A stdout replacement that keeps what is written (from any thread)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            self._parts.append(s)
        return len(s)

    def flush(self) -> None:
        pass

    def take(self) -> str:
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
        return text


def program_names() -> list[str]:
    from . import programs
    return sorted(m.name for m in pkgutil.iter_modules(programs.__path__) if not m.name.startswith("_"))


def load_program(name: str) -> ModuleType:
    module = importlib.import_module(f"parity.programs.{name}")
    for attr in ("build", "BATCHES_TO_RUN", "ORDER"):
        if not hasattr(module, attr):
            raise AttributeError(f"parity program {name} must define {attr}")
    if module.ORDER not in ORDERS:
        raise ValueError(f"parity program {name}: ORDER must be one of {ORDERS}, got {module.ORDER!r}")
    return module


def _files_under(root: str) -> tuple[dict[str, str], list[str]]:
    """Visible files (relative path -> text) and hidden ones (names only:
    Hadoop's ``.crc`` checksum side files, which nothing in Python reads)."""
    files: dict[str, str] = {}
    hidden: list[str] = []
    if not os.path.isdir(root):
        return files, hidden
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, fn), root)
            if fn.startswith("."):
                hidden.append(rel)
            else:
                with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                    files[rel] = f.read()
    return files, hidden


def run_program(name: str, engine: Engine, sc: Any, workdir: str) -> dict[str, Any]:
    """Run program ``name`` on ``engine`` and return what it produced:
    ``outputs`` (per emitted stream, the list of batches with ``time``,
    ``records`` in the engine's order and ``sorted``), ``stdout`` (one string
    per batch), ``files`` and ``hidden_files`` (under ``workdir/out``), and
    ``source_sha256`` of the program's file (a golden is stale once it changes)."""
    module = load_program(name)
    run_id = f"{name}-{engine.name}-{os.getpid()}-{time.monotonic_ns()}"
    with _RUNS_LOCK:
        _RUNS[run_id] = {}
    os.makedirs(workdir, exist_ok=True)
    ssc = engine.new_context(sc)
    tee = _Tee()
    stdout = []
    real_stdout = sys.stdout
    try:
        engine.before_build(ssc)
        module.build(ssc, sc, _make_emit(run_id), workdir)
        sys.stdout = tee
        ssc.start()
        for i in range(1, module.BATCHES_TO_RUN + 1):
            engine.advance_one_batch(ssc, i * BATCH_MS)
            stdout.append(tee.take())
        engine.check_failed(ssc)
    finally:
        sys.stdout = real_stdout
        ssc.stop(stopSparkContext=False, stopGraceFully=False)
        with _RUNS_LOCK:
            outputs = _RUNS.pop(run_id)
    engine.check_failed(ssc)
    files, hidden = _files_under(os.path.join(workdir, "out"))
    with open(module.__file__, "rb") as f:
        source_sha256 = hashlib.sha256(f.read()).hexdigest()
    return {"program": name, "source_sha256": source_sha256, "batch_ms": BATCH_MS,
            "batches": module.BATCHES_TO_RUN, "outputs": outputs, "stdout": stdout, "files": files,
            "hidden_files": hidden}
