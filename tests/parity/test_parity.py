"""Same output, batch for batch, as PySpark 4.3.

Every program in ``parity/programs`` runs on fluvial (both executors, on a
ManualClock) and is compared with what real PySpark 4.3.0 produced for it,
recorded in ``golden/<program>.json``: the same batch times, per emitted
stream the same records (in the same order when the program declares
``ORDER = "exact"``, else as multisets), the same ``pprint`` text per batch,
and the same files (names and contents) under ``workdir/out``. Hadoop's
``.crc`` side files are not compared.

Neither Java nor PySpark is needed here. To re-record the goldens (after
adding or changing a program)::

    bench/pyspark_venv.sh                        # creates bench/.venv-pyspark
    python tests/parity/record_pyspark.py        # all programs, or name some
    python tests/parity/record_pyspark.py --repeat 2   # also checks determinism

Each case is one program's emitted stream (or its stdout, or its files), so
a difference is reported where it is. Differences known to come from fluvial
bugs are marked ``xfail(strict=True)`` in ``KNOWN_DIFFERENCES`` with their
cause; fixing the bug makes the case XPASS, which fails, so the marker gets
removed. A golden records the SHA-256 of its program's source: editing a
program without re-recording fails its cases with a note to re-record.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from fluvial.streaming import StreamingContext
from fluvial.testing import ManualClock

from parity.harness import BATCH_SECONDS, load_program, program_names, run_program

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
# Parts of a program's result besides its emitted streams.
STDOUT, FILES, MISSING = "<stdout>", "<files>", "<no golden>"

# (program, emitted stream or <stdout>/<files>) -> how and why fluvial differs
# from PySpark there (a fluvial bug, to be fixed by the file's owner).
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


class FluvialEngine:
    name = "fluvial"

    def new_context(self, sc: Any) -> StreamingContext:
        return StreamingContext(sc, BATCH_SECONDS, clock=ManualClock())

    def before_build(self, ssc: StreamingContext) -> None:
        pass

    def advance_one_batch(self, ssc: StreamingContext, batch_time_ms: int) -> None:
        clock = ssc.clock
        assert isinstance(clock, ManualClock)
        clock.advance((batch_time_ms - clock.time_ms()) / 1000.0)
        self.check_failed(ssc)

    def check_failed(self, ssc: StreamingContext) -> None:
        ssc.awaitTerminationOrTimeout(0)  # re-raises a failed batch's error


@pytest.fixture(scope="module", autouse=True)
def utc_and_fixed_hash_seed():
    """The goldens were recorded with TZ=UTC (pprint prints local batch
    times) and PYTHONHASHSEED=0 (hash partitioning of strings)."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        pytest.fail("the parity tests need PYTHONHASHSEED=0 (as `make test` sets it): string keys are "
                    "hash-partitioned and the goldens were recorded with that seed")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def _load_golden(name: str) -> dict[str, Any] | None:
    path = os.path.join(GOLDEN, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _stream_differences(order: str, out: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    key = "records" if order == "exact" else "sorted"
    got_times = [b["time"] for b in got]
    want_times = [b["time"] for b in want]
    if got_times != want_times:
        return [f"{out}: batch times {got_times}, PySpark {want_times}"]
    return [f"{out} @ {w['time']} ms ({order} order): got {g[key]}, PySpark {w[key]}"
            for g, w in zip(got, want) if g[key] != w[key]]


def _differences(name: str, part: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """What differs between fluvial's run and PySpark's in one part of the
    result: an emitted stream, ``stdout`` (per batch) or ``files``."""
    if got["source_sha256"] != want.get("source_sha256"):
        return [f"programs/{name}.py changed since its golden was recorded: re-record it with "
                f"tests/parity/record_pyspark.py {name}"]
    if part == STDOUT:
        return [f"stdout of batch {i + 1}: got {g!r}, PySpark {w!r}"
                for i, (g, w) in enumerate(zip(got["stdout"], want["stdout"])) if g != w]
    if part == FILES:
        return [f"file {path}: got {got['files'].get(path)!r}, PySpark {want['files'].get(path)!r}"
                for path in sorted(set(got["files"]) | set(want["files"]))
                if got["files"].get(path) != want["files"].get(path)]
    if part not in got["outputs"]:
        return [f"{part}: the program no longer emits it: re-record the golden"]
    return _stream_differences(load_program(name).ORDER, part, got["outputs"][part], want["outputs"][part])


def _params() -> list[Any]:
    """One case per program and emitted stream, plus its stdout and files."""
    params = []
    for name in program_names():
        golden = _load_golden(name)
        parts = [MISSING] if golden is None else list(golden["outputs"]) + [STDOUT, FILES]
        for part in parts:
            reason = KNOWN_DIFFERENCES.get((name, part))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(name, part, marks=marks, id=f"{name}/{part}"))
    unknown = set(KNOWN_DIFFERENCES) - {(p.values[0], p.values[1]) for p in params}
    if unknown:
        raise ValueError(f"KNOWN_DIFFERENCES names cases that do not exist: {sorted(unknown)}")
    return params


# (executor's SparkContext, program) -> its result, or the error it raised
_results: dict[tuple[int, str], tuple[Any, dict[str, Any] | BaseException]] = {}


@pytest.fixture
def fluvial_run(sc, tmp_path_factory):
    """Runs a program on ``sc`` once (per executor) and caches what it
    produced (or how it failed) for the cases of its other outputs."""
    def run(name: str) -> dict[str, Any]:
        key = (id(sc), name)
        cached = _results.get(key)
        if cached is None or cached[0] is not sc:
            try:
                result: dict[str, Any] | BaseException = run_program(
                    name, FluvialEngine(), sc, str(tmp_path_factory.mktemp(name)))
            except Exception as exc:  # noqa: BLE001 - re-raised for every case of the program
                result = exc
            cached = _results[key] = (sc, result)
        if isinstance(cached[1], BaseException):
            raise cached[1]
        return cached[1]
    return run


@pytest.mark.parametrize(("program", "part"), _params())
def test_program_output_matches_pyspark(fluvial_run, program: str, part: str) -> None:
    want = _load_golden(program)
    if want is None:
        pytest.fail(f"no golden for parity program {program!r}: record it with "
                    f"tests/parity/record_pyspark.py {program}")
    got = fluvial_run(program)
    diffs = _differences(program, part, got, want)
    assert not diffs, f"{program}: {len(diffs)} difference(s) from PySpark 4.3:\n  " + "\n  ".join(diffs)
