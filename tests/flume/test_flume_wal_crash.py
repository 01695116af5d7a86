"""SIGKILL a driver whose Flume push receiver writes the write-ahead log while
avsc (playing Flume's AvroSink, retrying what was not answered OK) pushes
events; restart it with getOrCreate: every event answered OK is in the output
exactly once unless the sink had to send it again, and nothing is lost."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flume_peers import NODE, PEERS, needs_avsc
from support import (assert_at_least_once_and_once_if_sent_once, batch_output_counts, finish_driver, free_port,
                     kill_driver_twice, wait_until)

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


@needs_avsc
@pytest.mark.parametrize("master,seed", [("local", 1), ("local[2]", 2)])
def test_sigkilled_driver_outputs_every_event_answered_ok_once(tmp_path: Path, master: str, seed: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()

    def launch() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(APP), str(tmp_path / "checkpoint"), str(out), str(port),
                                 str(TOTAL), "--master", master], stderr=subprocess.PIPE, text=True)
    sink = RetryingSink(port)
    try:
        # only_in_log: events answered OK but not yet output when the driver died (recovery needs the log)
        killed, only_in_log = kill_driver_twice(launch, lambda: sink.ok, TOTAL, seed, out)
        ok_before_last_run = len(sink.ok)
        assert finish_driver(launch()) == 0
        wait_until(lambda: len(sink.ok) == TOTAL, "every event answered OK")
    finally:
        sink.close()
    assert killed == 2 and ok_before_last_run < TOTAL and only_in_log > 0
    assert_at_least_once_and_once_if_sent_once(batch_output_counts(out), sink.sent, TOTAL)
