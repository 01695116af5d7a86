"""SIGKILL a driver whose Flume push receiver writes the write-ahead log while
avsc (playing Flume's AvroSink, retrying what was not answered OK) pushes
events; restart it with getOrCreate: every event answered OK is in the output
exactly once unless the sink had to send it again, and nothing is lost."""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flume_peers import NODE, PEERS, needs_avsc
from support import finish_driver, wait_until

APP = Path(__file__).parent / "wal_apps" / "flume_push_app.py"
TOTAL = 600
SIZE = 10


class RetryingSink:
    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen([NODE, str(PEERS / "avro_sink_retry.js"), "127.0.0.1", str(port), str(TOTAL),
                                      str(SIZE)], stdout=subprocess.PIPE, text=True)
        self.sent: collections.Counter[int] = collections.Counter()
        self.ok: set[int] = set()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            o = json.loads(line)
            if "sent" in o:
                self.sent.update(range(o["sent"], o["sent"] + o["n"]))
            else:
                self.ok.update(range(o["ok"], o["ok"] + o["n"]))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def output_counts(out: Path) -> collections.Counter[int]:
    counts: collections.Counter[int] = collections.Counter()
    for name in os.listdir(out):
        if name.endswith(".txt"):
            counts.update(int(x) for x in (out / name).read_text().split())
    return counts


@needs_avsc
@pytest.mark.parametrize("master,seed", [("local", 1), ("local[2]", 2)])
def test_sigkilled_driver_outputs_every_event_answered_ok_once(tmp_path: Path, master: str, seed: int) -> None:
    rng = random.Random(seed)
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()

    def launch() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(APP), str(tmp_path / "checkpoint"), str(out), str(port),
                                 str(TOTAL), "--master", master], stderr=subprocess.PIPE, text=True)
    sink = RetryingSink(port)
    killed = only_in_log = 0
    try:
        for target in sorted(rng.sample(range(TOTAL // 5, TOTAL * 4 // 5), 2)):
            proc = launch()
            try:
                wait_until(lambda: len(sink.ok) >= target or proc.poll() is not None, f"{target} events OK",
                           timeout=60)
            finally:
                proc.send_signal(signal.SIGKILL)
            killed += finish_driver(proc) == -signal.SIGKILL
            at_kill = output_counts(out)
            only_in_log += sum(1 for e in set(sink.ok) if not at_kill[e])
        ok_before_last_run = len(sink.ok)
        assert finish_driver(launch()) == 0
        wait_until(lambda: len(sink.ok) == TOTAL, "every event answered OK")
    finally:
        sink.close()
    assert killed == 2 and ok_before_last_run < TOTAL and only_in_log > 0
    counts = output_counts(out)
    assert [e for e in range(TOTAL) if counts[e] == 0] == [], "events lost"
    assert set(counts) == set(range(TOTAL))
    once = [e for e in range(TOTAL) if sink.sent[e] == 1 and counts[e] != 1]
    assert once == [], "events sent (and answered OK) once but not output exactly once"
    assert [e for e in range(TOTAL) if counts[e] > sink.sent[e]] == []
