"""A recoverable Kafka program for crash tests (run as a subprocess).

    python kafka_pipeline.py CHECKPOINT BOOTSTRAP TOPIC OUTPUT END_SECONDS [--master M]

A direct stream over TOPIC (from its earliest offsets, at most 20 records per
partition and batch) → running word counts (updateStateByKey) → one file per
batch for the counts and one for the batch's offset ranges and records,
written atomically, so a batch run twice writes the same files again (an
idempotent sink). The context runs on a manual clock this program advances
itself up to END_SECONDS; after a crash, getOrCreate recovers it.
"""
import argparse
import os

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("checkpoint", "bootstrap", "topic", "output"):
        ap.add_argument(name)
    ap.add_argument("end", type=int)
    ap.add_argument("--master", default="local")
    args = ap.parse_args()

    def setup() -> StreamingContext:
        conf = (SparkConf().setMaster(args.master).setAppName("kafka-crash-pipeline")
                .set("spark.streaming.clock", "manual")
                .set("spark.streaming.kafka.maxRatePerPartition", "20"))
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        stream = KafkaUtils.createDirectStream(ssc, [args.topic], {"bootstrap.servers": args.bootstrap,
                                                                   "auto.offset.reset": "smallest"})
        stream.foreachRDD(save_batch(args.output))
        counts = (stream.flatMap(lambda kv: kv[1].split()).map(lambda w: (w, 1))
                  .updateStateByKey(lambda new, old: sum(new) + (old or 0)))
        counts.checkpoint(2)
        counts.foreachRDD(save_counts(args.output))
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    while clock.time_ms() < args.end * 1000:
        clock.advance(1)
    ssc.stop(stopGraceFully=True)


def write_atomically(directory: str, name: str, text: str) -> None:
    tmp = os.path.join(directory, f".{name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(directory, name))


def save_batch(directory):
    def save(t, rdd):
        ms = int(t.timestamp() * 1000)
        ranges = "".join(f"{r}\n" for r in rdd.offsetRanges())
        records = "".join(f"{v}\n" for _, v in sorted(rdd.collect()))
        write_atomically(directory, f"batch-{ms:08d}.txt", ranges + records)
    return save


def save_counts(directory):
    def save(t, rdd):
        ms = int(t.timestamp() * 1000)
        write_atomically(directory, f"counts-{ms:08d}.txt", "".join(f"{k} {v}\n" for k, v in sorted(rdd.collect())))
    return save


if __name__ == "__main__":
    main()
