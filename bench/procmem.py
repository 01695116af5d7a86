"""Peak resident memory and CPU time of a process tree, polled from /proc.

bench/run.py starts every measured program as the leader of a new session, so
the tree is every process of that session alive at a poll: the program, the
JVM and its Python workers for PySpark, the worker processes for fluvial, and
any of them that were re-parented after their parent exited. Its RSS is the
sum of the members' RSS, so pages shared after fork count once per process;
its CPU time the sum of the members' own user + system time.
"""
from __future__ import annotations

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def session_procs(sid: int) -> dict[int, int]:
    """Live processes whose session id is ``sid``: pid -> CPU ticks they have
    used themselves (user + system, children not included)."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != b"Z":
            procs[int(name)] = int(fields[11]) + int(fields[12])
    return procs


def session_pids(sid: int) -> list[int]:
    return list(session_procs(sid))


def rss(pids) -> int:
    """Bytes resident in ``pids`` right now (those gone count 0)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, not idle or
    waiting for I/O) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait: float, threshold: float = 0.3, window: float = 1.0) -> float:
    """Wait (at most ``max_wait`` seconds) until the machine uses fewer than
    ``threshold`` cores over a ``window``; returns the seconds waited."""
    began = time.monotonic()
    while True:
        b0 = machine_busy_seconds()
        time.sleep(window)
        if (machine_busy_seconds() - b0) / window < threshold or time.monotonic() - began >= max_wait:
            return time.monotonic() - began


class TreeMonitor:
    """Polls the processes of session ``sid`` every ``period`` seconds on a
    thread until :meth:`stop`: ``peak`` is the largest total RSS seen (bytes),
    :meth:`cpu_seconds` the CPU time they used, each process counted as last
    seen (a process's final ``period`` of work may be missed)."""

    def __init__(self, sid: int, period: float = 0.05) -> None:
        self.sid = sid
        self.peak = 0
        self._ticks: dict[int, int] = {}
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peak-rss")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            procs = session_procs(self.sid)
            self._ticks.update(procs)
            self.peak = max(self.peak, rss(procs))
            self._stop.wait(self._period)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def cpu_seconds(self) -> float:
        return sum(self._ticks.values()) / os.sysconf("SC_CLK_TCK")
