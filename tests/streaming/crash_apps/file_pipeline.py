"""A recoverable streaming program for crash tests (run as a subprocess).

    python file_pipeline.py CHECKPOINT INPUT OUTPUT END_SECONDS [--master M] [--die-at-fsync K]

Words of the files in INPUT → running counts (updateStateByKey) and a
3-batch sliding window (reduceByKeyAndWindow with an inverse function) →
one output file per batch and stream, written atomically, so a batch run
twice writes the same file again (an idempotent sink). The context runs on
a manual clock that this program advances itself, one batch at a time, up
to END_SECONDS; after a crash it is recovered with getOrCreate and goes on
from the checkpoint's time.

``--die-at-fsync K`` kills this process with SIGKILL at its K-th
``os.fsync``: in the middle of writing a data or metadata checkpoint (the
data is in a temporary file, not yet renamed into place).
"""
import argparse
import operator
import os
import signal

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("end", type=int)
    ap.add_argument("--master", default="local")
    ap.add_argument("--die-at-fsync", type=int, default=0)
    args = ap.parse_args()
    if args.die_at_fsync:
        die_at_fsync(args.die_at_fsync)

    def setup() -> StreamingContext:
        conf = (SparkConf().setMaster(args.master).setAppName("crash-pipeline")
                .set("spark.streaming.clock", "manual"))
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        pairs = ssc.textFileStream(args.input).flatMap(str.split).map(lambda w: (w, 1))
        counts = pairs.updateStateByKey(lambda new, old: sum(new) + (old or 0))
        window = pairs.reduceByKeyAndWindow(operator.add, operator.sub, 3, 1)
        counts.checkpoint(2)
        window.checkpoint(2)
        counts.foreachRDD(sink(args.output, "counts"))
        window.foreachRDD(sink(args.output, "window"))
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    while clock.time_ms() < args.end * 1000:
        clock.advance(1)
    ssc.stop(stopGraceFully=True)


def sink(directory, kind):
    def save(t, rdd):
        ms = int(t.timestamp() * 1000)
        text = "".join(f"{k} {v}\n" for k, v in sorted(rdd.collect()) if v)
        tmp = os.path.join(directory, f".{kind}-{ms}.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(directory, f"{kind}-{ms:08d}.txt"))
    return save


def die_at_fsync(k: int) -> None:
    real = os.fsync
    calls = [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(fd)

    os.fsync = fsync


if __name__ == "__main__":
    main()
