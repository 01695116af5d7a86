"""Helpers shared by test modules (import as ``from support import ...``;
``tests/`` is on the path because ``tests/conftest.py`` lives there)."""
from __future__ import annotations

import collections
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Collection

from fluvial import SparkConf, SparkContext

EXECUTORS = ["inprocess", "processes"]


def make_context(executor: str, cores: int = 2, **conf: str) -> SparkContext:
    """A ``local[cores]`` context whose tasks run ``executor`` ("inprocess" or "processes")."""
    c = SparkConf().setMaster(f"local[{cores}]").setAppName("fluvial-tests")
    c.set("spark.fluvial.executor", executor)
    for k, v in conf.items():
        c.set(k, v)
    return SparkContext(conf=c)


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``cond`` (a thread's progress, never a batch boundary) until true;
    fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def finish_driver(proc: subprocess.Popen) -> int:
    """Wait for a driver process of a crash test; its exit status, which must
    be success or SIGKILL (anything else fails with the end of its stderr)."""
    _, err = proc.communicate(timeout=60)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"driver failed with status {proc.returncode}:\n{(err or '')[-4000:]}")
    return proc.returncode


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_output_counts(out: Path) -> collections.Counter[int]:
    """How often each integer record appears in a crash driver's per-batch
    ``*.txt`` files (tests/crash_driver.py writes them)."""
    counts: collections.Counter[int] = collections.Counter()
    for name in os.listdir(out):
        if name.endswith(".txt"):
            counts.update(int(x) for x in (out / name).read_text().split())
    return counts


def kill_driver_twice(launch: Callable[[], subprocess.Popen], answered: Callable[[], Collection[int]],
                      total: int, seed: int, out: Path) -> tuple[int, int]:
    """Start a receiver crash driver and SIGKILL it at two random points of
    the source's progress (``answered()``: the records the receiver
    acknowledged so far). Returns (drivers killed, acknowledged records that
    were not in the output at a kill: only the write-ahead log had them)."""
    rng = random.Random(seed)
    killed = only_in_log = 0
    for target in sorted(rng.sample(range(total // 5, total * 4 // 5), 2)):
        proc = launch()
        try:
            wait_until(lambda: len(answered()) > target or proc.poll() is not None,
                       f"{target} records acknowledged", timeout=60)
        finally:
            proc.send_signal(signal.SIGKILL)
        killed += finish_driver(proc) == -signal.SIGKILL
        at_kill = batch_output_counts(out)
        only_in_log += sum(1 for r in set(answered()) if not at_kill[r])
    return killed, only_in_log


def assert_at_least_once_and_once_if_sent_once(counts: collections.Counter[int],
                                               sent: collections.Counter[int], total: int) -> None:
    """Every record 0..total-1 is in the output; one the source sent once is
    there exactly once; none more often than it was sent."""
    assert [r for r in range(total) if counts[r] == 0] == [], "records lost"
    assert set(counts) == set(range(total))
    once = [r for r in range(total) if sent[r] == 1 and counts[r] != 1]
    assert once == [], "records sent (and acknowledged) once but not output exactly once"
    assert [r for r in range(total) if counts[r] > sent[r]] == []
