"""SIGKILL a driver reading a Flume Thrift stream with the write-ahead log on,
restart it with getOrCreate: every event is in the output, and every event the
sender sent once (so answered OK the first time) is in it exactly once.

The test is the Flume sink: an Apache thrift 0.25 compact client (flumehandler's
stubs) sends numbered events in batches to thrift_peers/crash_app.py and
resends a batch until it is answered OK, reconnecting while the driver is
down. A batch stored but not answered when the driver died is sent again, so
it may come twice (at-least-once); nothing else may."""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TFramedTransport

from flumehandler.thrift_protocol import Client
from flumehandler.thrift_ttypes import ThriftFlumeEvent
from support import (assert_at_least_once_and_once_if_sent_once, batch_output_counts, finish_driver, free_port,
                     kill_driver_twice)

APP = Path(__file__).parent / "thrift_peers" / "crash_app.py"
TOTAL = 600
CHUNK = 5
OK = 0


class Sink(threading.Thread):
    """Sends events 0..total-1, ``chunk`` per appendBatch, each batch until it
    is answered OK; counts how often each event was sent."""

    def __init__(self, port: int, total: int, chunk: int) -> None:
        super().__init__(daemon=True, name="test-thrift-sink")
        self.port, self.total, self.chunk = port, total, chunk
        self.acked = -1
        self.sent: collections.Counter[int] = collections.Counter()
        self.halt = threading.Event()

    def run(self) -> None:
        nxt = 0
        while nxt < self.total and not self.halt.is_set():
            sock = TSocket("127.0.0.1", self.port)
            sock.setTimeout(10_000)
            transport = TFramedTransport(sock)
            try:
                transport.open()
                client = Client(TCompactProtocol(transport))
                while nxt < self.total and not self.halt.is_set():
                    numbers = list(range(nxt, min(nxt + self.chunk, self.total)))
                    self.sent.update(numbers)
                    status = client.appendBatch([ThriftFlumeEvent({"n": str(n)}, str(n).encode()) for n in numbers])
                    if status == OK:
                        self.acked = numbers[-1]
                        nxt = numbers[-1] + 1
                    else:
                        time.sleep(0.01)
            except Exception:  # noqa: BLE001 - the driver is down or was killed mid-call: reconnect and resend
                time.sleep(0.01)
            finally:
                transport.close()


def launch(tmp: Path, out: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(APP), str(tmp / "checkpoint"), str(out), str(port), str(TOTAL)],
                            stderr=subprocess.PIPE, text=True)


def test_sigkilled_driver_with_write_ahead_log_outputs_every_event_answered_ok_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    sink = Sink(port, TOTAL, CHUNK)
    sink.start()
    try:
        # only_in_log: events answered OK but not yet output when the driver died (recovery needs the log)
        killed, only_in_log = kill_driver_twice(lambda: launch(tmp_path, out, port),
                                                lambda: range(sink.acked + 1), TOTAL, 7, out)
        acked_before_last_run = sink.acked
        assert finish_driver(launch(tmp_path, out, port)) == 0
    finally:
        sink.halt.set()
        sink.join(15)
    assert killed == 2 and 0 <= acked_before_last_run < TOTAL - 1 and only_in_log > 0
    assert sink.acked == TOTAL - 1
    assert os.listdir(tmp_path / "checkpoint" / "receivedData" / "0")
    assert_at_least_once_and_once_if_sent_once(batch_output_counts(out), sink.sent, TOTAL)
