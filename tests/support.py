"""Helpers shared by test modules (import as ``from support import ...``;
``tests/`` is on the path because ``tests/conftest.py`` lives there)."""
from __future__ import annotations

import signal
import subprocess
import time
from typing import Callable

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
