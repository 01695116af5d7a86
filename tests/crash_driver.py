"""What the crash tests' receiver driver programs share (they run as subprocesses).

Each program: ``CHECKPOINT OUTPUT PORT TOTAL [--master M]``; a context on a
manual clock with the receiver write-ahead log on, recovered with
``getOrCreate`` after a crash; every batch's records written to
``OUTPUT/<batch time>.txt`` through a temporary file and a rename (so a batch
run again rewrites the same file); the program advances its own clock until
the output holds ``TOTAL`` distinct records.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable, Iterable

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("port", type=int)
    ap.add_argument("total", type=int)
    ap.add_argument("--master", default="local")
    return ap.parse_args()


def wal_context(args: argparse.Namespace, app: str) -> StreamingContext:
    conf = (SparkConf().setMaster(args.master).setAppName(app)
            .set("spark.streaming.clock", "manual")
            .set("spark.streaming.receiver.writeAheadLog.enable", "true")
            .set("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs", "5")
            .set("spark.streaming.receiverRestartDelay", "50ms"))
    ssc = StreamingContext(SparkContext(conf=conf), 1)
    ssc.checkpoint(args.checkpoint)
    return ssc


def batch_files(output: str, records_of: Callable[[Any], Iterable[Any]]) -> Callable[[Any, Any], None]:
    """A foreachRDD function writing ``records_of(rdd)``, one per line, to the batch's file."""
    def save(t: Any, rdd: Any) -> None:
        records = list(records_of(rdd))
        if not records:
            return
        ms = int(t.timestamp() * 1000)
        tmp = os.path.join(output, f".{ms}.tmp")
        with open(tmp, "w") as f:
            f.write("".join(f"{r}\n" for r in records))
        os.replace(tmp, os.path.join(output, f"{ms:09d}.txt"))
    return save


def read_output(directory: str) -> dict[str, list[str]]:
    """Batch file name -> its records (as text), for the batches written so far."""
    out = {}
    for name in os.listdir(directory):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name)) as f:
                out[name] = f.read().split()
    return out


def run(args: argparse.Namespace, setup: Callable[[], StreamingContext]) -> None:
    """getOrCreate, then one batch per step of the manual clock (letting
    records arrive in between) until the output holds ``args.total``
    distinct records; exits with an error after 60 s."""
    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    deadline = time.monotonic() + 60
    while len({r for rs in read_output(args.output).values() for r in rs}) < args.total:
        if time.monotonic() > deadline:
            ssc.stop(stopGraceFully=False)
            sys.exit("timed out before the output held every record")
        time.sleep(0.005)
        clock.advance(1)
    ssc.stop(stopGraceFully=True)
