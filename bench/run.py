#!/usr/bin/env python3
"""Side-by-side streaming benchmarks: fluvial vs PySpark vs the engine-free limit.

    python bench/run.py                       # everything: 3 runs, writes BENCHMARKS.md
    python bench/run.py --quick --engines fluvial,limit   # smoke, under a minute

Every measured program runs in its own process (its own session, so the
memory of the whole tree can be polled), started from this script; runs of
the engines are interleaved (engine order rotates from run to run). Outputs
are checked equal across engines and runs; a difference stops the benchmark
with the difference printed and exit status 1. See BENCHMARKS.md for the
method and the numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import common  # noqa: E402
import procmem  # noqa: E402
import report  # noqa: E402

PYTHONS = {"fluvial": os.path.join(ROOT, ".venv", "bin", "python"),
           "pyspark": os.path.join(HERE, ".venv-pyspark", "bin", "python"),
           "limit": os.path.join(ROOT, ".venv", "bin", "python")}
DATA = {"wordcount": "words.txt", "windowed": "events.txt", "stateful": "events.txt"}
QUEUE_WORKLOADS = ["wordcount", "windowed", "stateful"]
ALL_WORKLOADS = QUEUE_WORKLOADS + ["latency"]


class Settings:
    def __init__(self, quick: bool, runs: int | None, keepup_runs: int | None) -> None:
        self.quick = quick
        self.runs = runs or (1 if quick else 3)
        self.keepup_runs = keepup_runs or 1
        self.batches = 10
        self.lines_per_batch = 10_000 if quick else 100_000
        self.interval_ms = 100 if quick else 1000
        self.pre_empty = 3 if quick else 5
        self.post_empty = 2 if quick else 3
        self.keepup_max_trials = 2 if quick else 7
        self.latency_rate = 50_000
        self.latency_seconds = 2.0 if quick else 10.0
        self.latency_pre_delay = 0.6 if quick else 1.5
        self.latency_interval_ms = 100
        self.child_timeout = 300 if quick else 1800
        self.quiet_wait = 0.0 if quick else 15.0


FLUVIAL_SRC: list[str] = []   # the snapshot of src/ the fluvial runs import (set by main)


def snapshot_fluvial(ref: str, workdir: str) -> tuple[str, str]:
    """Export ``src/`` of commit ``ref`` into ``workdir``, so every fluvial run
    imports that one commit even while the working tree changes under the
    benchmark. Returns (the directory to put first on PYTHONPATH, full commit)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", ref + "^{commit}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        sys.exit(f"--fluvial-ref {ref!r} is not a commit of {ROOT}: {commit.stderr.strip()}")
    sha = commit.stdout.strip()
    dest = os.path.join(workdir, "fluvial-src")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", sha, "src"], capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"git archive {sha} src failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    # byte-compile, as pip does for an installed package (and as PySpark's is):
    # with PYTHONDONTWRITEBYTECODE set, every run would otherwise compile from source
    subprocess.run([sys.executable, "-m", "compileall", "-q", dest], check=True)
    return os.path.join(dest, "src"), sha


def child_env(engine: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = ([FLUVIAL_SRC[0]] if engine == "fluvial" and FLUVIAL_SRC else []) + [HERE]
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    if engine == "pyspark":
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env["PYSPARK_PYTHON"] = PYTHONS["pyspark"]
        env["PYSPARK_DRIVER_PYTHON"] = PYTHONS["pyspark"]
    return env


def reap_session(sid: int, grace: float = 30.0) -> None:
    """Wait for the leftovers of a finished run's session (a JVM shutting
    down) so they do not eat into the next run; kill them after ``grace``."""
    deadline = time.monotonic() + grace
    while procmem.session_pids(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in procmem.session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ChildFailed(Exception):
    pass


def run_child(engine: str, workload: str, mode: str, s: Settings, workdir: str, tag: str,
              extra: list[str] | None = None) -> dict:
    """Run one measured program; returns its JSON result plus ``peak_rss``."""
    script = "limit.py" if engine == "limit" else "workloads.py"
    out = os.path.join(workdir, f"{tag}.json")
    log = os.path.join(workdir, f"{tag}.log")
    scratch = os.path.join(workdir, tag)
    os.makedirs(scratch, exist_ok=True)
    args = [PYTHONS[engine], os.path.join(HERE, script), "--engine", engine, "--workload", workload,
            "--mode", mode, "--batches", str(s.batches), "--lines-per-batch", str(s.lines_per_batch),
            "--interval-ms", str(s.interval_ms), "--pre-empty", str(s.pre_empty),
            "--post-empty", str(s.post_empty), "--max-trials", str(s.keepup_max_trials),
            "--out", out, "--workdir", scratch]
    if workload in DATA:
        args += ["--data", os.path.join(HERE, "data", DATA[workload])]
    args += extra or []
    waited = procmem.wait_until_quiet(s.quiet_wait) if s.quiet_wait > 0 else 0.0
    busy0 = procmem.machine_busy_seconds()
    with open(log, "w") as logf:
        t0 = time.time()
        proc = subprocess.Popen(args + ["--t0", repr(t0)], stdout=logf, stderr=subprocess.STDOUT,
                                env=child_env(engine), cwd=scratch, start_new_session=True)
        mem = procmem.TreeMonitor(proc.pid)
        try:
            rc = proc.wait(timeout=s.child_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
        peak = mem.stop()
        wall = time.time() - t0
        busy1 = procmem.machine_busy_seconds()
        reap_session(proc.pid)
    if rc != 0 or not os.path.exists(out):
        with open(log, errors="replace") as f:
            tail = f.read()[-3000:]
        raise ChildFailed(f"{engine} {workload} {mode} exited with {rc}; log {log}:\n{tail}")
    with open(out) as f:
        result = json.load(f)
    if engine == "fluvial" and FLUVIAL_SRC and not result.get("engine_file", FLUVIAL_SRC[0]).startswith(FLUVIAL_SRC[0]):
        raise ChildFailed(f"fluvial was imported from {result['engine_file']}, not the snapshot {FLUVIAL_SRC[0]}")
    result["peak_rss"] = peak
    own = mem.cpu_seconds()
    result["cpu_s"] = own
    result["wall_s"] = wall
    result["other_load"] = max(0.0, (busy1 - busy0) - own) / wall if wall > 0 else 0.0
    result["quiet_waited_s"] = waited
    return result


def run_latency(engine: str, s: Settings, workdir: str, tag: str) -> dict:
    feeder = subprocess.Popen([sys.executable, os.path.join(HERE, "feeder.py"), "--rate", str(s.latency_rate),
                               "--seconds", str(s.latency_seconds), "--pre-delay", str(s.latency_pre_delay)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = int(feeder.stdout.readline())
        expect = int(s.latency_rate * s.latency_seconds)
        saved = s.interval_ms
        s.interval_ms = s.latency_interval_ms
        try:
            return run_child(engine, "latency", "measure", s, workdir, tag,
                             ["--port", str(port), "--expect-lines", str(expect)])
        finally:
            s.interval_ms = saved
    finally:
        try:
            feeder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(feeder.pid, signal.SIGKILL)
            feeder.wait()


# ------------------------------------------------------------------ checking
def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def expected_outputs(result: dict) -> list:
    """The outputs of the batches the run was asked for (an engine may run a
    few more before it stops)."""
    if result["workload"] == "latency":
        return result["outputs"]
    n = result["pre_empty"] + result["data_batches"] + result["post_empty"]
    return result["outputs"][:n]


def check_equal(workload: str, results: list[dict]) -> None:
    """Every run's outputs must equal the first one's; exit 1 otherwise."""
    if not results:
        return
    ref = results[0]
    want = expected_outputs(ref)
    for r in results:
        if not r.get("finished", False):
            sys.exit(f"FAILED: {workload}: {r['engine']} did not finish its batches in time")
        got = expected_outputs(r)
        if workload == "latency":
            if r["lines"] != r["expected_lines"]:
                sys.exit(f"FAILED: latency: {r['engine']} output {r['lines']} lines, the feeder sent "
                         f"{r['expected_lines']}")
            continue
        if not _same(got, want):
            for i, (x, y) in enumerate(zip(got, want)):
                if not _same(x, y):
                    sys.exit(f"FAILED: {workload}: outputs differ at batch {i}:\n"
                             f"  {ref['engine']}: {json.dumps(y)[:2000]}\n  {r['engine']}: {json.dumps(x)[:2000]}")
            sys.exit(f"FAILED: {workload}: {r['engine']} output {len(got)} batches, "
                     f"{ref['engine']} {len(want)}")


# ------------------------------------------------------------------ metrics
def _proc_s(b: dict) -> float | None:
    if "proc_s" in b:
        return b["proc_s"]
    return None if b["proc_ms"] is None else b["proc_ms"] / 1000.0


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def queue_metrics(r: dict) -> dict:
    pre, data = r["pre_empty"], r["data_batches"]
    batches = r["batches"][:pre + data + r["post_empty"]]
    data_b = batches[pre:pre + data]
    proc = [_proc_s(b) for b in data_b]
    if any(p is None for p in proc):
        raise ChildFailed(f"{r['engine']} {r['workload']}: a data batch has no processing delay")
    return {
        "sc_ready_s": r["sc_ready_s"], "started_s": r["started_s"],
        "after_read_s": r["started_s"] - r["read_s"] if r.get("read_s") is not None else None,
        "proc_median_ms": 1000 * statistics.median(proc), "proc_max_ms": 1000 * max(proc),
        "throughput": r["lines"] / sum(proc) if sum(proc) > 0 else None,
        "empty_before_ms": _median([1000 * _proc_s(b) for b in batches[min(2, pre - 1):pre]]),
        "empty_after_ms": _median([1000 * _proc_s(b) for b in batches[pre + data:]]),
        "peak_rss_mib": r["peak_rss"] / 2**20, "cpu_s": r.get("cpu_s"),
    }


def latency_metrics(r: dict) -> dict:
    batches = r["batches"]
    data_idx = [i for i, b in enumerate(batches) if b["records"] > 0]
    first, last = (data_idx[0], data_idx[-1]) if data_idx else (len(batches), len(batches) - 1)
    active = batches[first:last + 1]
    sched = [b["sched_ms"] for b in active if b["sched_ms"] is not None]
    proc = [_proc_s(b) for b in active if _proc_s(b) is not None]
    empty = [1000 * _proc_s(b) for b in batches[min(2, first):first] if _proc_s(b) is not None]
    return {
        "sc_ready_s": r["sc_ready_s"], "started_s": r["started_s"],
        "latency_p50_ms": r["latency_ms"]["p50"], "latency_p99_ms": r["latency_ms"]["p99"],
        "sched_p50_ms": common.percentile(sched, 50), "sched_p99_ms": common.percentile(sched, 99),
        "sched_max_ms": max(sched) if sched else None,
        "proc_median_ms": 1000 * statistics.median(proc) if proc else None,
        "throughput": r["lines"] / sum(proc) if proc and sum(proc) > 0 else None,
        "keeps_up": common.keeps_up([b["sched_ms"] for b in active], r["interval_ms"]),
        "empty_before_ms": _median(empty),
        "peak_rss_mib": r["peak_rss"] / 2**20, "cpu_s": r.get("cpu_s"),
    }


def median_metrics(per_run: list[dict]) -> dict:
    out = {}
    for key in per_run[0]:
        vals = [m[key] for m in per_run]
        if isinstance(vals[0], bool):
            out[key] = sum(vals) * 2 > len(vals)
        else:
            out[key] = _median(vals)
    return out


def keepup_start(per_run: list[dict], s: Settings) -> int:
    """First interval to try: the smallest ladder step at least the median
    data-batch processing time of the measured runs (median over runs)."""
    typical = _median([m["proc_median_ms"] for m in per_run]) or s.interval_ms
    for ms in reversed(common.LADDER_MS):
        if ms >= typical:
            return ms
    return common.LADDER_MS[0]


# ------------------------------------------------------------------ main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="1 run, 10,000-line batches, 100 ms interval, 2 keep-up trials, 2 s of latency feed")
    p.add_argument("--engines", default="fluvial,pyspark,limit")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    p.add_argument("--runs", type=int, help="measured runs per engine and workload (default 3, quick 1)")
    p.add_argument("--keepup-runs", type=int, help="keep-up searches per engine and workload (default 1)")
    p.add_argument("--quiet-wait", type=float,
                   help="before each run, wait up to this many seconds for the machine to be idle "
                        "(under 0.3 busy cores); default 15, quick 0")
    p.add_argument("--no-keepup", action="store_true", help="skip the keep-up search")
    p.add_argument("--output", help="markdown report (default: BENCHMARKS.md for a full run, none for --quick)")
    p.add_argument("--json", help="raw results (default: bench/results.json for a full run)")
    p.add_argument("--fluvial-ref", default="HEAD",
                   help="commit whose src/ the fluvial runs import (exported once at the start, so edits "
                        "during the run do not leak in); 'worktree' imports the working tree as it is")
    p.add_argument("--render", metavar="RAW_JSON",
                   help="only re-render the report from the raw results of an earlier run")
    args = p.parse_args()
    if args.render:
        with open(args.render) as f:
            raw = json.load(f)
        text = report.render(raw, raw["engines"], list(raw["workloads"]), PYTHONS)
        if args.output:
            with open(args.output, "w") as f:
                f.write(text)
        else:
            print(text)
        return
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    for e in engines:
        if e not in PYTHONS:
            sys.exit(f"unknown engine {e!r}; choose from {', '.join(PYTHONS)}")
        if not os.access(PYTHONS[e], os.X_OK):
            sys.exit(f"{PYTHONS[e]} is missing: run `make bench` (or bench/pyspark_venv.sh for pyspark)")
    for w in workloads:
        if w not in ALL_WORKLOADS:
            sys.exit(f"unknown workload {w!r}; choose from {', '.join(ALL_WORKLOADS)}")
        if w in DATA and not os.path.exists(os.path.join(HERE, "data", DATA[w])):
            sys.exit(f"bench/data/{DATA[w]} is missing: python3 bench/gen_data.py "
                     f"{DATA[w][:-4]} 1000000 bench/data/{DATA[w]}")
    s = Settings(args.quick, args.runs, args.keepup_runs)
    if args.quiet_wait is not None:
        s.quiet_wait = args.quiet_wait
    output = args.output or (None if args.quick else os.path.join(ROOT, "BENCHMARKS.md"))
    raw_path = args.json or (None if args.quick else os.path.join(HERE, "results.json"))
    workdir = tempfile.mkdtemp(prefix="fluvial-bench-")
    fluvial_commit = None
    if "fluvial" in engines and args.fluvial_ref != "worktree":
        src, fluvial_commit = snapshot_fluvial(args.fluvial_ref, workdir)
        FLUVIAL_SRC.append(src)
    started = time.time()
    if os.environ.get("FLUVIAL_BENCH_VIA_MAKE"):
        command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(sys.argv[1:]))}" if sys.argv[1:] else "")
    else:
        command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/run.py"] + sys.argv[1:])
    raw: dict = {"settings": vars(s), "engines": engines, "workloads": {}, "command": command,
                 "machine": report.machine(), "versions": None,
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "json": os.path.relpath(raw_path, ROOT) if raw_path else None,
                 "fluvial_commit": fluvial_commit}
    raw["versions"] = report.versions(PYTHONS, engines, fluvial_commit)
    failures: list[str] = []

    def log(msg: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)

    for w in workloads:
        runs: dict[str, list[dict]] = {e: [] for e in engines}
        errors: dict[str, str] = {}
        for i in range(s.runs):
            order = engines[i % len(engines):] + engines[:i % len(engines)]
            for e in order:
                if e in errors:
                    continue
                tag = f"{w}-{e}-run{i}"
                try:
                    r = run_latency(e, s, workdir, tag) if w == "latency" else \
                        run_child(e, w, "measure", s, workdir, tag)
                    runs[e].append(r)
                    m = latency_metrics(r) if w == "latency" else queue_metrics(r)
                    log(f"{tag}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in m.items()))
                except ChildFailed as exc:
                    errors[e] = str(exc).splitlines()[0]
                    failures.append(str(exc))
                    log(f"{tag}: FAILED\n{exc}")
        check_equal(w, [r for e in sorted(engines, key=lambda e: e != "limit") for r in runs[e]])
        log(f"{w}: outputs equal across {', '.join(e for e in engines if runs[e])}")
        entry: dict = {"runs": runs, "errors": errors, "metrics": {}, "keepup": {}}
        for e in engines:
            if runs[e]:
                per_run = [latency_metrics(r) if w == "latency" else queue_metrics(r) for r in runs[e]]
                entry["metrics"][e] = median_metrics(per_run)
                entry["per_run"] = entry.get("per_run", {})
                entry["per_run"][e] = per_run
        if w != "latency" and not args.no_keepup:
            for e in engines:
                if not runs[e]:
                    continue
                start = keepup_start(entry["per_run"][e], s)
                searches = []
                for k in range(s.keepup_runs):
                    tag = f"{w}-{e}-keepup{k}"
                    try:
                        r = run_child(e, w, "keepup", s, workdir, tag, ["--start-interval-ms", str(start)])
                        searches.append(r)
                        log(f"{tag}: best={r['best_ms']} ms (exact: {r['exact']}); trials " + ", ".join(
                            f"{t['interval_ms']}ms:{'ok' if t['keeps_up'] else 'behind'}" for t in r["trials"]))
                    except ChildFailed as exc:
                        failures.append(str(exc))
                        log(f"{tag}: FAILED\n{exc}")
                entry["keepup"][e] = searches
        for e in engines:
            for r in runs[e]:
                r.pop("outputs", None) if w != "latency" else None
        raw["workloads"][w] = entry
        raw["elapsed_s"] = time.time() - started
        if raw_path:                      # saved after every workload: a later failure keeps these
            with open(raw_path, "w") as f:
                json.dump(raw, f, indent=1)

    raw["elapsed_s"] = time.time() - started
    if raw_path:
        with open(raw_path, "w") as f:
            json.dump(raw, f, indent=1)
    text = report.render(raw, engines, workloads, PYTHONS)
    if output:
        with open(output, "w") as f:
            f.write(text)
        log(f"wrote {output}")
    else:
        print(text)
    if failures:
        sys.exit(f"{len(failures)} run(s) failed; see above (logs kept in {workdir})")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
