"""Exactly-once from Kafka across a driver crash: SIGKILL the driver, restart
it with getOrCreate, and every batch's offset ranges, records and running
counts equal those of a crash-free run (the ranges are part of the metadata
checkpoint, so re-run batches read exactly the same records).

The program is crash_apps/kafka_pipeline.py; the topic is filled before any
run and never changes, so a crash-free run is deterministic.
"""
from __future__ import annotations

import filecmp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import finish_driver, wait_until

APP = Path(__file__).parent / "crash_apps" / "kafka_pipeline.py"
BATCHES = 12   # 3 partitions x 200 records at 20 per partition and batch: drained after 10


def launch(tmp: Path, broker, topic: str, out: Path, master: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(APP), str(tmp / "checkpoint"), broker.bootstrap, topic, str(out),
                             str(BATCHES), "--master", master], stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def workload(broker, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    topic = broker.topic("crash", partitions=3)
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(15)]
    broker.produce(topic, [(i % 3, None, " ".join(rng.choices(vocab, k=4))) for i in range(600)])
    root = tmp_path_factory.mktemp("kafka-crash")
    expected = root / "expected"
    expected.mkdir()
    assert finish_driver(launch(root, broker, topic, expected, "local")) == 0
    assert len(os.listdir(expected)) == 2 * BATCHES
    return topic, expected


@pytest.mark.parametrize("master,seed", [("local", 1), ("local[2]", 2)])
def test_sigkill_then_getOrCreate_gives_the_crash_free_output(tmp_path, broker, workload, master, seed):
    topic, expected = workload
    rng = random.Random(seed)
    out = tmp_path / "out"
    out.mkdir()
    proc = launch(tmp_path, broker, topic, out, master)
    target = rng.randint(4, 2 * BATCHES - 6)  # output files written before the kill
    try:
        wait_until(lambda: len(os.listdir(out)) >= target or proc.poll() is not None, "driver progress", timeout=60)
        time.sleep(rng.uniform(0, 0.02))
    finally:
        proc.send_signal(signal.SIGKILL)
    assert finish_driver(proc) == -signal.SIGKILL
    assert finish_driver(launch(tmp_path, broker, topic, out, master)) == 0
    cmp = filecmp.dircmp(expected, out)
    assert not cmp.left_only, f"batches missing after recovery: {sorted(cmp.left_only)[:5]}"
    assert not cmp.right_only, f"unexpected files: {sorted(cmp.right_only)[:5]}"
    _, mismatch, errors = filecmp.cmpfiles(expected, out, os.listdir(expected), shallow=False)
    assert not mismatch and not errors, f"batches that differ from a crash-free run: {mismatch[:5]}"
