"""Memory and checkpoint size over a long stateful run (issue 4's "flat" check).

    .venv/bin/python bench/long_run.py [--batches 3000] [--keys 10000] [--master local[2]]

Runs ``updateStateByKey`` and ``reduceByKeyAndWindow`` (with an inverse
function) over a queue of small batches on a manual clock, with checkpointing
on, and prints every 500 batches: the process tree's RSS, the number of
RDD blocks the driver holds, the number of files and bytes in the checkpoint
directory, and the time per batch. Flat columns mean lineage is cut and old
checkpoints are deleted as the run goes on.
"""
from __future__ import annotations

import argparse
import operator
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procmem import rss  # noqa: E402

from fluvial import SparkConf, SparkContext  # noqa: E402
from fluvial.streaming import StreamingContext  # noqa: E402
from fluvial.testing import queue_source  # noqa: E402


def tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its descendants (the driver and its worker processes)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return rss(pids)


def footprint(directory: str) -> tuple[int, int]:
    files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
    return len(files), sum(os.path.getsize(f) for f in files)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=3000)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--records", type=int, default=2000, help="records per batch")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    sc = SparkContext(conf=SparkConf().setMaster(args.master).setAppName("long-run")
                      .set("spark.streaming.clock", "manual"))
    ssc = StreamingContext(sc, 1)
    ckpt = tempfile.mkdtemp(prefix="fluvial-long-run-")
    ssc.checkpoint(ckpt)
    source = queue_source(ssc, [])
    keys = args.keys
    pairs = source.map(lambda x: (x % keys, 1))
    pairs.updateStateByKey(lambda vs, s: sum(vs) + (s or 0)).foreachRDD(lambda rdd: rdd.count())
    pairs.reduceByKeyAndWindow(operator.add, operator.sub, 30, 1).foreachRDD(lambda rdd: rdd.count())
    ssc.start()
    print(f"{'batch':>6} {'rss MB':>8} {'blocks':>7} {'ckpt files':>10} {'ckpt KB':>8} {'ms/batch':>9}")
    start = time.perf_counter()
    for i in range(1, args.batches + 1):
        base = i * args.records
        with source._qlock:
            source.queue.append(sc.parallelize(range(base, base + args.records), 2))
        ssc.clock.advance(1)
        if i % 500 == 0 or i == args.batches:
            files, size = footprint(ckpt)
            blocks = sum(map(len, sc._blocks._owners.values()))
            ms = (time.perf_counter() - start) * 1000 / 500
            print(f"{i:>6} {tree_rss(os.getpid()) / 2**20:>8.0f} {blocks:>7} {files:>10} "
                  f"{size / 1024:>8.0f} {ms:>9.1f}", flush=True)
            start = time.perf_counter()
    ssc.stop()


if __name__ == "__main__":
    main()
