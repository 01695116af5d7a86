#!/usr/bin/env python3
"""The benchmark programs, written once against the PySpark Streaming API.

    python bench/workloads.py --engine fluvial  --workload wordcount --mode measure ...
    python bench/workloads.py --engine pyspark  --workload wordcount --mode measure ...

The engine is imported by name (``fluvial`` or ``pyspark``); everything else
is the same program text. Each run is one process, started by bench/run.py,
which also watches the memory of the process tree. Batches are generated on
the engine's real (system) clock; the numbers come from the engine's own
StreamingListener ``BatchInfo`` (scheduling and processing delay per batch).

Modes:
  measure  one context, ``--pre-empty`` empty batches, then ``--batches`` data
           batches, then ``--post-empty`` empty batches; reports startup,
           per-batch delays and the outputs (checked equal across engines).
  keepup   the search for the smallest batch interval that keeps up: one
           SparkContext, a new StreamingContext per trial interval (see
           common.keeps_up), going down the ladder from ``--start-interval-ms``
           while trials keep up, up while they do not.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from operator import add, sub

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import KEEPUP_WARMUP_BATCHES, merge_summaries, parse_event, summary_partial  # noqa: E402

ARGS = common.child_args(__doc__.splitlines()[0])

engine = importlib.import_module(ARGS.engine)
streaming = importlib.import_module(ARGS.engine + ".streaming")
SparkConf, SparkContext = engine.SparkConf, engine.SparkContext
StreamingContext, StreamingListener = streaming.StreamingContext, streaming.StreamingListener


def _delay(value):
    """A BatchInfo delay as int ms or None. PySpark hands out scala ``Option``
    objects through py4j; fluvial hands out ints, -1 when unknown."""
    if value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    return int(value.get()) if value.isDefined() else None


class BatchRecorder(StreamingListener):
    """Keeps one record per completed batch, in completion order."""

    def __init__(self):
        super().__init__()
        self.batches = []
        self.cond = threading.Condition()

    def onBatchCompleted(self, batchCompleted):
        info = batchCompleted.batchInfo()
        record = {"time_ms": int(info.batchTime().milliseconds()), "records": int(info.numRecords()),
                  "sched_ms": _delay(info.schedulingDelay()), "proc_ms": _delay(info.processingDelay()),
                  "total_ms": _delay(info.totalDelay())}
        with self.cond:
            self.batches.append(record)
            self.cond.notify_all()

    def wait_for(self, n, timeout, give_up=None):
        """Wait until ``n`` batches completed (True), ``timeout`` passed or
        ``give_up(batches)`` says so (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.batches) < n:
                if give_up is not None and give_up(self.batches):
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            return True


# ------------------------------------------------------------------ programs
def wordcount(stream, outputs):
    counts = stream.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(add)

    def top10(rdd):
        outputs.append([list(kv) for kv in rdd.takeOrdered(10, key=lambda kv: (-kv[1], kv[0]))])
    counts.foreachRDD(top10)


def summarise(outputs):
    def output(rdd):
        outputs.append(merge_summaries(rdd.mapPartitions(lambda it: [summary_partial(it)]).collect()))
    return output


def windowed(stream, outputs, interval_s):
    sums = stream.map(parse_event).reduceByKeyAndWindow(add, sub, 5 * interval_s, interval_s)
    sums.foreachRDD(summarise(outputs))


def running_count(new_values, state):
    return (state or 0) + len(new_values)


def stateful(stream, outputs):
    counts = stream.map(lambda line: (line.split(",", 2)[1], 1)).updateStateByKey(running_count)
    counts.foreachRDD(summarise(outputs))


def build(ssc, stream, outputs, interval_s):
    if ARGS.workload == "wordcount":
        wordcount(stream, outputs)
    elif ARGS.workload == "windowed":
        windowed(stream, outputs, interval_s)
    elif ARGS.workload == "stateful":
        stateful(stream, outputs)


# ------------------------------------------------------------------ runners
def new_context():
    conf = (SparkConf().setMaster("local[2]").setAppName(f"bench-{ARGS.workload}")
            .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
            .set("spark.streaming.blockInterval", f"{ARGS.block_interval_ms}ms"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    return sc


def queue_rdds(sc, batches, empties_before):
    empty = [sc.parallelize([], 2) for _ in range(empties_before)]
    return empty + [sc.parallelize(b, 2) for b in batches]


def run_queue(sc, batches, interval_ms, pre_empty, post_empty, checkpoint, give_up_after_data=None):
    """One StreamingContext over the queued batches on the real clock; returns
    (listener records, outputs, time start() returned, finished?)."""
    interval_s = interval_ms / 1000.0
    ssc = StreamingContext(sc, interval_s)
    ssc.checkpoint(checkpoint)
    stream = ssc.queueStream(queue_rdds(sc, batches, pre_empty), oneAtATime=True)
    outputs = []
    build(ssc, stream, outputs, interval_s)
    recorder = BatchRecorder()
    ssc.addStreamingListener(recorder)
    ssc.start()
    started = time.time()
    n = pre_empty + len(batches) + post_empty
    give_up = None
    if give_up_after_data is not None:
        def give_up(done):
            data = [b["sched_ms"] for b in done[pre_empty:pre_empty + len(batches)]]
            return give_up_after_data(data)
    finished = recorder.wait_for(n, timeout=n * interval_s + 600, give_up=give_up)
    ssc.stop(stopSparkContext=False, stopGraceFully=False)
    with recorder.cond:
        records = list(recorder.batches)
    return records, outputs, started, finished


def measure():
    t0 = ARGS.t0
    batches = common.read_batches(ARGS.data, ARGS.batches, ARGS.lines_per_batch)
    t_read = time.time()
    sc = new_context()
    t_sc = time.time()
    records, outputs, t_started, finished = run_queue(
        sc, batches, ARGS.interval_ms, ARGS.pre_empty, ARGS.post_empty, os.path.join(ARGS.workdir, "ckpt"))
    result = {"engine": ARGS.engine, "workload": ARGS.workload, "mode": "measure", "finished": finished,
              "engine_file": engine.__file__, "read_s": t_read - t0, "sc_ready_s": t_sc - t0, "started_s": t_started - t0,
              "lines": ARGS.batches * ARGS.lines_per_batch, "pre_empty": ARGS.pre_empty,
              "data_batches": ARGS.batches, "post_empty": ARGS.post_empty, "interval_ms": ARGS.interval_ms,
              "batches": records, "outputs": outputs}
    common.write_result(ARGS.out, result)
    sc.stop()


def keepup():
    batches = common.read_batches(ARGS.data, ARGS.batches, ARGS.lines_per_batch)
    sc = new_context()
    trials = []

    def trial(interval_ms):
        records, _outputs, _started, finished = run_queue(
            sc, batches, interval_ms, KEEPUP_WARMUP_BATCHES, 0,
            os.path.join(ARGS.workdir, f"ckpt-{interval_ms}"),
            give_up_after_data=lambda sched: common.cannot_keep_up(sched, len(batches), interval_ms))
        data = records[KEEPUP_WARMUP_BATCHES:KEEPUP_WARMUP_BATCHES + len(batches)]
        sched = [b["sched_ms"] for b in data]
        ok = finished and common.keeps_up(sched, interval_ms)
        trials.append({"interval_ms": interval_ms, "keeps_up": ok, "sched_ms": sched,
                       "proc_ms": [b["proc_ms"] for b in data]})
        common.write_result(ARGS.out, {"engine": ARGS.engine, "workload": ARGS.workload, "mode": "keepup",
                                       "trials": trials, "done": False})
        return ok

    best, exact = common.search_ladder(trial, ARGS.start_interval_ms, ARGS.max_trials)
    common.write_result(ARGS.out, {"engine": ARGS.engine, "workload": ARGS.workload, "mode": "keepup",
                                   "trials": trials, "done": True, "best_ms": best,
                                   "exact": exact})
    sc.stop()


def latency():
    """Lines from the feeder's socket, 100 ms batches: per-record latency is the
    time the batch's output holds the record minus the send time in the line."""
    t0 = ARGS.t0
    sc = new_context()
    t_sc = time.time()
    interval_s = ARGS.interval_ms / 1000.0
    ssc = StreamingContext(sc, interval_s)
    lines = ssc.socketTextStream("127.0.0.1", ARGS.port)
    latencies_ms = []
    seen = []
    done = threading.Event()

    def record(rdd):
        sent_us = rdd.collect()
        out_us = time.time() * 1e6
        latencies_ms.extend((out_us - s) / 1000.0 for s in sent_us)
        seen.append(len(sent_us))
        if sum(seen) >= ARGS.expect_lines:
            done.set()

    lines.map(lambda line: int(line.split(",", 1)[0])).foreachRDD(record)
    recorder = BatchRecorder()
    ssc.addStreamingListener(recorder)
    ssc.start()
    t_started = time.time()
    finished = done.wait(timeout=ARGS.expect_lines / 1000.0 + 120)
    time.sleep(4 * interval_s)       # let the listener see the last batches complete
    ssc.stop(stopSparkContext=False, stopGraceFully=False)
    with recorder.cond:
        records = list(recorder.batches)
    result = {"engine": ARGS.engine, "workload": "latency", "mode": "measure", "finished": finished,
              "engine_file": engine.__file__,
              "sc_ready_s": t_sc - t0, "started_s": t_started - t0, "interval_ms": ARGS.interval_ms,
              "lines": sum(seen), "expected_lines": ARGS.expect_lines, "batches": records,
              "latency_ms": {"p50": common.percentile(latencies_ms, 50),
                             "p99": common.percentile(latencies_ms, 99),
                             "max": max(latencies_ms) if latencies_ms else None},
              "outputs": [sum(seen)]}
    common.write_result(ARGS.out, result)
    sc.stop()


if __name__ == "__main__":
    if ARGS.workload == "latency":
        latency()
    elif ARGS.mode == "measure":
        measure()
    else:
        keepup()
