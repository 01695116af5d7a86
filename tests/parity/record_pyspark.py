"""Record the parity goldens by running every parity program on real PySpark 4.3.

    python tests/parity/record_pyspark.py                 # all programs
    python tests/parity/record_pyspark.py windows joins   # some
    python tests/parity/record_pyspark.py --repeat 2      # and check determinism

Any Python will do: unless it already runs PySpark 4.3.0 with
PYTHONHASHSEED=0 and TZ=UTC, the script re-executes itself that way under
bench/.venv-pyspark, creating it first with bench/pyspark_venv.sh. Needs
Java 17 or 21.

Each program runs on ``local[2]`` (UI off) with
``spark.streaming.clock=org.apache.spark.util.ManualClock``: the recorder
moves the JVM clock one batch at a time through py4j and waits for that
batch's ``onBatchCompleted``. Spark posts no event for a batch without jobs,
so a no-op output on an extra queue stream gives every batch one. What the
program produced goes to ``tests/parity/golden/<program>.json``. With
``--repeat N`` each program runs N times and is not recorded if the runs
differ (in order, for programs that declare ``ORDER = "exact"``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
VENV_PYTHON = os.path.join(ROOT, "bench", ".venv-pyspark", "bin", "python")
GOLDEN = os.path.join(HERE, "golden")
PYSPARK_VERSION = "4.3.0"
BATCH_TIMEOUT_S = 300.0


def _reexec_if_needed() -> None:
    """Continue only under PySpark 4.3.0 with PYTHONHASHSEED=0 and TZ=UTC;
    otherwise re-execute under bench/.venv-pyspark (creating it with
    bench/pyspark_venv.sh if it is missing) with that environment."""
    try:
        import pyspark
        version = pyspark.__version__
    except ImportError:
        version = None
    if version == PYSPARK_VERSION and os.environ.get("PYTHONHASHSEED") == "0" and os.environ.get("TZ") == "UTC":
        return
    python = sys.executable if version == PYSPARK_VERSION else VENV_PYTHON
    if python == VENV_PYTHON:
        if os.path.realpath(sys.prefix) == os.path.realpath(os.path.dirname(os.path.dirname(VENV_PYTHON))):
            sys.exit(f"record_pyspark: {VENV_PYTHON} has pyspark {version}, not {PYSPARK_VERSION}; "
                     "re-run bench/pyspark_venv.sh")
        subprocess.run([os.path.join(ROOT, "bench", "pyspark_venv.sh")], check=True)
    env = dict(os.environ, PYTHONHASHSEED="0", TZ="UTC")
    os.execve(python, [python, os.path.abspath(__file__)] + sys.argv[1:], env)


class PySparkEngine:
    """Drives a PySpark StreamingContext on the JVM's ManualClock."""

    name = "pyspark"

    def __init__(self) -> None:
        from pyspark.streaming import StreamingListener

        class BatchWaiter(StreamingListener):
            def __init__(self) -> None:
                super().__init__()
                self.completed: set[int] = set()
                self.cond = threading.Condition()

            def onBatchCompleted(self, batchCompleted: Any) -> None:
                t = batchCompleted.batchInfo().batchTime().milliseconds()
                with self.cond:
                    self.completed.add(t)
                    self.cond.notify_all()

        self._waiter_cls = BatchWaiter
        self._waiter: Any = None

    def new_context(self, sc: Any) -> Any:
        from pyspark.streaming import StreamingContext
        from parity.harness import BATCH_SECONDS
        return StreamingContext(sc, BATCH_SECONDS)

    def before_build(self, ssc: Any) -> None:
        self._waiter = self._waiter_cls()
        ssc.addStreamingListener(self._waiter)
        sc = ssc.sparkContext
        # Spark posts no batch events for a batch without jobs (e.g. the odd
        # batches of a stream windowed with a 2 s slide): this output makes
        # sure every batch has one.
        ssc.queueStream([sc.parallelize([0], 1)], True, sc.parallelize([0], 1)).foreachRDD(lambda rdd: None)

    def _clock(self, ssc: Any) -> Any:
        return ssc._jssc.ssc().scheduler().clock()

    def advance_one_batch(self, ssc: Any, batch_time_ms: int) -> None:
        clock = self._clock(ssc)
        now = clock.getTimeMillis()
        if batch_time_ms < now:
            raise RuntimeError(f"JVM clock is at {now} ms, past the batch {batch_time_ms} ms")
        clock.advance(batch_time_ms - now)
        deadline = time.monotonic() + BATCH_TIMEOUT_S
        waiter = self._waiter
        while True:
            with waiter.cond:
                if batch_time_ms in waiter.completed:
                    break
                waiter.cond.wait(0.05)
            # re-raises the error of a failed job; True once stopped
            if ssc.awaitTerminationOrTimeout(0.001):
                raise RuntimeError(f"StreamingContext stopped before batch {batch_time_ms} ms completed")
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_time_ms} ms did not complete in {BATCH_TIMEOUT_S} s")
        self.check_failed(ssc)

    def check_failed(self, ssc: Any) -> None:
        ssc.awaitTerminationOrTimeout(0.001)  # re-raises the error of a failed job


def _spark_context() -> Any:
    from pyspark import SparkConf, SparkContext
    conf = (SparkConf().setMaster("local[2]").setAppName("fluvial-parity-recorder")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
            .set("spark.driver.host", "127.0.0.1")
            .set("spark.driver.bindAddress", "127.0.0.1")
            .set("spark.streaming.clock", "org.apache.spark.util.ManualClock")
            .set("spark.executorEnv.PYTHONHASHSEED", "0"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    return sc


def dump_golden(value: Any, depth: int = 3, pad: str = "") -> str:
    """JSON nested on separate lines down to ``depth`` levels, one line below
    that: one line per batch, so that a re-recording diffs batch by batch."""
    if depth == 0 or not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, ensure_ascii=False)
    inner = pad + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump_golden(v, depth - 1, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [inner + dump_golden(v, depth - 1, inner) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def _run_to_run_differences(name: str, runs: list[dict[str, Any]]) -> list[str]:
    """Parts of the result that differ between runs, compared as the program
    declares (records in order for ORDER = "exact", else sorted)."""
    from parity.harness import load_program
    key = "records" if load_program(name).ORDER == "exact" else "sorted"
    first, differing = runs[0], set()
    for other in runs[1:]:
        for out, batches in first["outputs"].items():
            if [(b["time"], b[key]) for b in batches] != [(b["time"], b[key]) for b in other["outputs"][out]]:
                differing.add(out)
        for part in ("stdout", "files"):
            if other[part] != first[part]:
                differing.add(part)
    return sorted(differing)


def _java_version() -> str:
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return out.splitlines()[0] if out else "unknown"


def main() -> None:
    _reexec_if_needed()
    sys.path.insert(0, TESTS)
    # PySpark's Python workers import the program modules (cloudpickle pickles
    # module-level functions by reference).
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [TESTS, os.environ.get("PYTHONPATH")] if p)
    time.tzset()
    import warnings
    warnings.filterwarnings("ignore", category=FutureWarning)  # "DStream is deprecated"

    import pyspark
    from parity.harness import program_names, run_program

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("programs", nargs="*", help="program names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per program; outputs must agree")
    args = parser.parse_args()
    names = args.programs or program_names()
    unknown = sorted(set(names) - set(program_names()))
    if unknown:
        sys.exit(f"record_pyspark: unknown programs {unknown}; known: {program_names()}")

    sc = _spark_context()
    engine = PySparkEngine()
    meta = {"engine": f"pyspark {pyspark.__version__}", "java": _java_version(),
            "master": "local[2]", "PYTHONHASHSEED": "0", "TZ": "UTC",
            "python": sys.version.split()[0]}
    os.makedirs(GOLDEN, exist_ok=True)
    failed = False
    try:
        for name in names:
            runs = []
            for _ in range(args.repeat):
                workdir = tempfile.mkdtemp(prefix=f"parity-{name}-")
                started = time.monotonic()
                try:
                    runs.append(run_program(name, engine, sc, workdir))
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                print(f"{name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
            result = runs[0]
            differing = _run_to_run_differences(name, runs)
            if differing:
                failed = True
                print(f"{name}: not recorded, runs differ in {differing}", file=sys.stderr)
                continue
            golden = {"recorded_with": meta, **result}
            with open(os.path.join(GOLDEN, f"{name}.json"), "w", encoding="utf-8") as f:
                f.write(dump_golden(golden) + "\n")
    finally:
        sc.stop()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
