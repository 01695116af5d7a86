#!/usr/bin/env python3
"""The engine-free limit: each workload's computation as a plain Python loop
(collections.Counter / dict) over the very same batches, in one process.

Same command line and result format as workloads.py (``--engine limit``).
Batches are cut on the real clock exactly as an engine would: batch k is due
at ``start + k * interval``; its scheduling delay is the time processing began
minus the due time, its processing time is how long the computation took.
This is what an engine costs at the very least in CPython: no scheduling, no
serialisation, no parallelism.
"""
from __future__ import annotations

import heapq
import os
import socket
import sys
import time
from collections import Counter, deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import KEEPUP_WARMUP_BATCHES  # noqa: E402

ARGS = common.child_args(__doc__.splitlines()[0])


def summary(d):
    n, total, sample = 0, 0, {}
    for k, v in d.items():
        n += 1
        total += v
        if k in common.SAMPLE_USERS:
            sample[k] = v
    return [n, total, dict(sorted(sample.items()))]


class WordCount:
    def step(self, lines):
        counts = Counter()
        for line in lines:
            counts.update(line.split())
        return [list(kv) for kv in heapq.nsmallest(10, counts.items(), key=lambda kv: (-kv[1], kv[0]))]


class Windowed:
    """Sliding sum over the last 5 batches, kept incrementally as the engines
    do (add the batch that enters, subtract the one that leaves); keys stay
    once seen, as without a filter function."""

    def __init__(self):
        self.window = {}
        self.recent = deque()

    def step(self, lines):
        batch = {}
        for line in lines:
            _ts, user, amount = line.split(",")
            batch[user] = batch.get(user, 0.0) + float(amount)
        self.recent.append(batch)
        window = self.window
        for user, amount in batch.items():
            window[user] = window.get(user, 0.0) + amount
        if len(self.recent) > 5:
            for user, amount in self.recent.popleft().items():
                window[user] -= amount
        return summary(window)


class Stateful:
    def __init__(self):
        self.state = Counter()

    def step(self, lines):
        self.state.update(line.split(",", 2)[1] for line in lines)
        return summary(self.state)


PROGRAMS = {"wordcount": WordCount, "windowed": Windowed, "stateful": Stateful}


def run_clocked(batches, interval_ms, give_up=None):
    """Process ``batches`` (lists of lines) on the real clock; returns the
    per-batch records and outputs. ``give_up(data_sched)`` may end it early."""
    program = PROGRAMS[ARGS.workload]()
    interval = interval_ms / 1000.0
    start = time.time() + interval
    records, outputs, data_sched = [], [], []
    for k, lines in enumerate(batches):
        due = start + k * interval
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        began = time.time()
        outputs.append(program.step(lines))
        ended = time.time()
        records.append({"time_ms": int(due * 1000), "records": len(lines),
                        "sched_ms": int((began - due) * 1000), "proc_ms": int(round((ended - began) * 1000)),
                        "total_ms": int((ended - due) * 1000), "proc_s": ended - began})
        if lines:
            data_sched.append(records[-1]["sched_ms"])
            if give_up is not None and give_up(data_sched):
                return records, outputs, False
    return records, outputs, True


def measure():
    data = common.read_batches(ARGS.data, ARGS.batches, ARGS.lines_per_batch)
    t_ready = time.time()
    batches = [[]] * ARGS.pre_empty + data + [[]] * ARGS.post_empty
    records, outputs, finished = run_clocked(batches, ARGS.interval_ms)
    common.write_result(ARGS.out, {
        "engine": "limit", "workload": ARGS.workload, "mode": "measure", "finished": finished,
        "read_s": t_ready - ARGS.t0, "sc_ready_s": t_ready - ARGS.t0, "started_s": t_ready - ARGS.t0,
        "lines": ARGS.batches * ARGS.lines_per_batch, "pre_empty": ARGS.pre_empty,
        "data_batches": ARGS.batches, "post_empty": ARGS.post_empty, "interval_ms": ARGS.interval_ms,
        "batches": records, "outputs": outputs})


def keepup():
    data = common.read_batches(ARGS.data, ARGS.batches, ARGS.lines_per_batch)
    trials = []

    def trial(interval_ms):
        records, _outputs, finished = run_clocked(
            [[]] * KEEPUP_WARMUP_BATCHES + data, interval_ms,
            give_up=lambda sched: common.cannot_keep_up(sched, len(data), interval_ms))
        sched = [b["sched_ms"] for b in records[KEEPUP_WARMUP_BATCHES:]]
        ok = finished and common.keeps_up(sched, interval_ms)
        trials.append({"interval_ms": interval_ms, "keeps_up": ok, "sched_ms": sched,
                       "proc_ms": [b["proc_ms"] for b in records[KEEPUP_WARMUP_BATCHES:]]})
        return ok

    best, exact = common.search_ladder(trial, ARGS.start_interval_ms, ARGS.max_trials)
    common.write_result(ARGS.out, {"engine": "limit", "workload": ARGS.workload, "mode": "keepup",
                                   "trials": trials, "done": True, "best_ms": best,
                                   "exact": exact})


def latency():
    """Read the feeder's lines; every interval, the lines that arrived form a
    batch whose output time minus each line's send time is its latency."""
    sock = socket.create_connection(("127.0.0.1", ARGS.port))
    t_started = time.time()
    interval = ARGS.interval_ms / 1000.0
    pending, buf = [], b""
    latencies_ms, records = [], []
    seen = 0
    due = time.time() + interval
    deadline = time.time() + ARGS.expect_lines / 1000.0 + 120
    while seen < ARGS.expect_lines and time.time() < deadline:
        left = due - time.time()
        if left > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(1 << 20)
            except socket.timeout:
                chunk = None
            if chunk == b"":
                break
            if chunk:
                buf += chunk
                cut = buf.rfind(b"\n")
                if cut >= 0:
                    pending.extend(buf[:cut].split(b"\n"))
                    buf = buf[cut + 1:]
            continue
        began = time.time()
        sent_us = [int(line.split(b",", 1)[0]) for line in pending]
        out_us = time.time() * 1e6
        latencies_ms.extend((out_us - s) / 1000.0 for s in sent_us)
        seen += len(sent_us)
        ended = time.time()
        records.append({"time_ms": int(due * 1000), "records": len(sent_us),
                        "sched_ms": int((began - due) * 1000), "proc_ms": int(round((ended - began) * 1000)),
                        "total_ms": int((ended - due) * 1000), "proc_s": ended - began})
        pending = []
        due += interval
    sock.close()
    common.write_result(ARGS.out, {
        "engine": "limit", "workload": "latency", "mode": "measure", "finished": seen >= ARGS.expect_lines,
        "sc_ready_s": t_started - ARGS.t0, "started_s": t_started - ARGS.t0, "interval_ms": ARGS.interval_ms,
        "lines": seen, "expected_lines": ARGS.expect_lines, "batches": records,
        "latency_ms": {"p50": common.percentile(latencies_ms, 50), "p99": common.percentile(latencies_ms, 99),
                       "max": max(latencies_ms) if latencies_ms else None},
        "outputs": [seen]})


if __name__ == "__main__":
    if ARGS.workload == "latency":
        latency()
    elif ARGS.mode == "measure":
        measure()
    else:
        keepup()
