"""The Kafka examples run as real programs: the word count with its own local
broker (the one-command path), the fraud detector against the test broker."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=60, cwd=EXAMPLES)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_kafka_wordcount_starts_a_broker_and_counts_the_lines_it_feeds():
    out = run_example("kafka_wordcount.py", "--seconds", "3")
    assert "Started a local Kafka broker on 127.0.0.1:" in out
    ranges = re.findall(r"lines-(\d) \[(\d+), (\d+)\)", out)
    assert {p for p, _, _ in ranges} == {"0", "1"}
    counts = re.findall(r"^\('(\w+)', (\d+)\)$", out, re.MULTILINE)
    words = {w for line in ["to be or not to be", "that is the question", "the rest is silence",
                            "brevity is the soul of wit"] for w in line.split()}
    assert counts and {w for w, _ in counts} <= words


def read_until_idle(bootstrap: str, topic: str, idle_s: float = 1.0) -> list[bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "examples", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got, last = [], time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for m in c.consume(100, 0.1):
                if m.error() is None:
                    got.append(m.value())
                    last = time.monotonic()
    finally:
        c.close()
    return got


def test_fraud_detection_sends_an_alert_for_a_card_on_a_spree(broker):
    txns, alerts = broker.topic("transactions", partitions=3), broker.topic("alerts")
    normal = [{"card": f"c{i % 20}", "amount": 20.0, "country": "FR", "merchant": "m1"} for i in range(40)]
    spree = [{"card": "stolen", "amount": 300.0, "country": c, "merchant": "m9"} for c in ["US", "BR", "TH"] * 4]
    broker.produce(txns, [(i % 3, t["card"], json.dumps(t)) for i, t in enumerate(normal + spree)])
    run_example("fraud_detection.py", broker.bootstrap, "--transactions", txns, "--alerts", alerts,
                "--from-beginning", "--seconds", "3")
    sent = [json.loads(v) for v in read_until_idle(broker.bootstrap, alerts)]
    assert sent and {a["card"] for a in sent} == {"stolen"}
    first = sent[0]
    assert (first["count"], first["total"], first["countries"]) == (12, 3600.0, ["BR", "TH", "US"])
    assert len(first["reasons"]) == 3
