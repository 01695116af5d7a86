"""What the engine programs (workloads.py) and the engine-free loop (limit.py)
share: reading the input batches, the result summaries that are compared
across engines, the keep-up verdict, and the child's command line.

Nothing here imports an engine: each child process imports only the engine it
measures, so startup time and memory are that engine's own.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any, Iterable

# Users whose window sums / running counts are compared across engines: heavy
# (Zipf head) and light (tail) keys, including some that may never occur.
SAMPLE_USERS = frozenset(f"u{i}" for i in (0, 1, 2, 3, 4, 5, 7, 10, 13, 21, 42, 99, 100, 256, 500, 1000,
                                            2024, 4096, 9999, 12345, 31337, 50000, 77777, 99998, 99999))

# Candidate batch intervals (ms) for the keep-up search, largest first.
LADDER_MS = [10000, 8000, 6000, 5000, 4000, 3000, 2500, 2000, 1600, 1250, 1000, 800, 600, 500,
             400, 300, 250, 200, 150, 100, 80, 60, 50, 40, 30, 20]

KEEPUP_WARMUP_BATCHES = 2   # empty batches that open each keep-up trial
KEEPUP_TAIL = 3             # data batches at the end whose scheduling delay must stay <= interval


def read_batches(path: str, batches: int, lines_per_batch: int) -> list[list[str]]:
    """The first ``batches * lines_per_batch`` lines of ``path`` (without their
    newlines), cut into consecutive batches. Fails if the file is too short."""
    need = batches * lines_per_batch
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n", need)[:need]
    if len(lines) < need or (lines and lines[-1] == ""):
        raise SystemExit(f"{path}: need {need} lines, the file has fewer; regenerate it with bench/gen_data.py")
    return [lines[i * lines_per_batch:(i + 1) * lines_per_batch] for i in range(batches)]


def parse_event(line: str) -> tuple[str, float]:
    """``ts_ms,user,amount`` -> ``(user, amount)``."""
    _ts, user, amount = line.split(",")
    return user, float(amount)


def top10(counts: Iterable[tuple[str, int]]) -> list[list[Any]]:
    """The 10 largest counts, ties broken by word: the order takeOrdered gives
    with key ``(-count, word)``."""
    import heapq
    return [list(kv) for kv in heapq.nsmallest(10, counts, key=lambda kv: (-kv[1], kv[0]))]


def summary_partial(items: Iterable[tuple[str, Any]]) -> list[Any]:
    """``[number of keys, sum of values, {sampled key: value}]`` of one partition."""
    n, total, sample = 0, 0, {}
    for k, v in items:
        n += 1
        total += v
        if k in SAMPLE_USERS:
            sample[k] = v
    return [n, total, sample]


def merge_summaries(parts: Iterable[list[Any]]) -> list[Any]:
    n, total, sample = 0, 0, {}
    for pn, ptotal, psample in parts:
        n += pn
        total += ptotal
        sample.update(psample)
    return [n, total, dict(sorted(sample.items()))]


def keeps_up(sched_ms: list[int | None], interval_ms: int) -> bool:
    """A run keeps up when the scheduling delay of its last ``KEEPUP_TAIL`` data
    batches is at most one batch interval: the backlog stays under one batch
    instead of growing. A batch that never ran (None) does not keep up."""
    tail = sched_ms[-KEEPUP_TAIL:]
    return len(tail) == KEEPUP_TAIL and all(d is not None and d <= interval_ms for d in tail)


def cannot_keep_up(sched_ms: list[int | None], data_batches: int, interval_ms: int) -> bool:
    """True once the verdict is certainly "no". The delay shrinks by at most one
    interval per batch, so a delay above ``(data_batches - j + 1) * interval``
    at data batch j (1-based) cannot fall to one interval by the last batch."""
    j = len(sched_ms)
    if j == 0 or sched_ms[-1] is None:
        return False
    return sched_ms[-1] > (data_batches - j + 1) * interval_ms


def search_ladder(trial, start_ms: int, max_trials: int) -> tuple[int | None, bool]:
    """The smallest interval of LADDER_MS that keeps up, found on the real
    clock; ``trial(ms) -> bool`` runs one trial. From ``start_ms``, gallop
    (1, 2, 4 ... steps) towards smaller intervals while trials keep up, or
    towards larger ones while they do not, until one interval that keeps up
    and a smaller one that does not bracket the answer; then bisect. At most
    ``max_trials`` trials. Returns ``(interval, exact)``: exact when the next
    smaller step was tried and fell behind; interval None if none kept up."""
    n = len(LADDER_MS)
    ok: int | None = None    # largest ladder index that kept up
    bad: int | None = None   # smallest ladder index above ``ok`` that fell behind
    tried = 0

    def run(i: int) -> None:
        nonlocal tried, ok, bad
        tried += 1
        if trial(LADDER_MS[i]):
            ok = i if ok is None else max(ok, i)
        else:
            bad = i if bad is None else min(bad, i)

    run(LADDER_MS.index(start_ms))
    step = 1
    while tried < max_trials and (ok is None or bad is None):
        if ok is not None:
            if ok == n - 1:
                break
            run(min(n - 1, ok + step))
        else:
            if bad == 0:
                break
            run(max(0, bad - step))
        step *= 2
    while tried < max_trials and ok is not None and bad is not None and bad - ok > 1:
        run((ok + bad) // 2)
    if ok is None:
        return None, False
    return LADDER_MS[ok], bad is not None and bad == ok + 1


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def child_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--engine", required=True)
    p.add_argument("--workload", required=True, choices=["wordcount", "windowed", "stateful", "latency"])
    p.add_argument("--mode", required=True, choices=["measure", "keepup"])
    p.add_argument("--data", help="input file (not for latency)")
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--lines-per-batch", type=int, default=100_000)
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--pre-empty", type=int, default=5, help="empty batches before the data (fixed cost)")
    p.add_argument("--post-empty", type=int, default=3, help="empty batches after the data")
    p.add_argument("--start-interval-ms", type=int, help="keep-up search: first interval tried")
    p.add_argument("--max-trials", type=int, default=8)
    p.add_argument("--port", type=int, help="latency: the feeder's TCP port")
    p.add_argument("--expect-lines", type=int, help="latency: lines the feeder will send")
    p.add_argument("--block-interval-ms", type=int, default=50)
    p.add_argument("--t0", type=float, required=True, help="time.time() of the parent just before spawning")
    p.add_argument("--out", required=True, help="JSON result file")
    p.add_argument("--workdir", required=True, help="scratch directory (checkpoints)")
    return p.parse_args()


def write_result(path: str, result: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)
