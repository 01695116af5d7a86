"""A recoverable Flume push program for the crash test (run as a subprocess).

    python flume_push_app.py CHECKPOINT OUTPUT PORT TOTAL [--master M]

A push stream on 127.0.0.1:PORT with the receiver write-ahead log on; each
batch's event ids go to ``OUTPUT/<batch time>.txt`` (temp file + rename), so a
batch run again after a crash rewrites the same file. The context runs on a
manual clock this program advances until the output holds TOTAL distinct
ids; after a crash it is recovered with getOrCreate.
"""
import argparse
import os
import sys
import time

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeUtils


def distinct_ids(directory: str) -> int:
    ids = set()
    for name in os.listdir(directory):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name)) as f:
                ids.update(f.read().split())
    return len(ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("port", type=int)
    ap.add_argument("total", type=int)
    ap.add_argument("--master", default="local")
    args = ap.parse_args()
    output = args.output

    def setup() -> StreamingContext:
        conf = (SparkConf().setMaster(args.master).setAppName("flume-push-crash")
                .set("spark.streaming.clock", "manual")
                .set("spark.streaming.receiver.writeAheadLog.enable", "true")
                .set("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs", "5")
                .set("spark.streaming.receiverRestartDelay", "50ms"))
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        ssc.checkpoint(args.checkpoint)

        def save(t, rdd):
            ids = [headers["id"] for headers, _ in rdd.collect()]
            if not ids:
                return
            ms = int(t.timestamp() * 1000)
            tmp = os.path.join(output, f".{ms}.tmp")
            with open(tmp, "w") as f:
                f.write("".join(f"{i}\n" for i in ids))
            os.replace(tmp, os.path.join(output, f"{ms:09d}.txt"))

        FlumeUtils.createStream(ssc, "127.0.0.1", args.port).foreachRDD(save)
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    deadline = time.monotonic() + 60
    while distinct_ids(output) < args.total:
        if time.monotonic() > deadline:
            ssc.stop(stopGraceFully=False)
            sys.exit("timed out before the output held every event")
        time.sleep(0.005)   # let events arrive: one batch per step of the manual clock
        clock.advance(1)
    ssc.stop(stopGraceFully=True)


if __name__ == "__main__":
    main()
