"""A recoverable program reading Flume Thrift events, for the crash test (run as a subprocess).

    python crash_app.py CHECKPOINT OUTPUT PORT TOTAL

A Thrift receiver (compact) listens on 127.0.0.1:PORT with the write-ahead
log on; event bodies are the decimal numbers 0..TOTAL-1. Each batch's bodies
go to ``OUTPUT/<batch time>.txt`` (temp file + rename), so a batch run again
after a crash rewrites the same file. The context runs on a manual clock
that this program advances itself until the output holds all TOTAL numbers;
after a crash it is recovered with getOrCreate.
"""
import argparse
import os
import sys
import time

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeUtils


def read_output(directory: str) -> set[int]:
    seen = set()
    for name in os.listdir(directory):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name)) as f:
                seen.update(int(x) for x in f.read().split())
    return seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("port", type=int)
    ap.add_argument("total", type=int)
    args = ap.parse_args()
    output = args.output

    def setup() -> StreamingContext:
        conf = (SparkConf().setMaster("local").setAppName("thrift-crash")
                .set("spark.streaming.clock", "manual")
                .set("spark.streaming.receiver.writeAheadLog.enable", "true")
                .set("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs", "5")
                .set("spark.streaming.receiverRestartDelay", "50ms"))
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        ssc.checkpoint(args.checkpoint)

        def save(t, rdd):
            bodies = [body for _, body in rdd.collect()]
            if not bodies:
                return
            ms = int(t.timestamp() * 1000)
            tmp = os.path.join(output, f".{ms}.tmp")
            with open(tmp, "w") as f:
                f.write("".join(f"{b}\n" for b in bodies))
            os.replace(tmp, os.path.join(output, f"{ms:09d}.txt"))

        FlumeUtils.createThriftStream(ssc, "127.0.0.1", args.port, "compact").foreachRDD(save)
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    deadline = time.monotonic() + 60
    while len(read_output(output)) < args.total:
        if time.monotonic() > deadline:
            ssc.stop(stopGraceFully=False)
            sys.exit("timed out before the output held every event")
        time.sleep(0.005)   # let events arrive: one batch per step of the manual clock
        clock.advance(1)
    ssc.stop(stopGraceFully=True)


if __name__ == "__main__":
    main()
