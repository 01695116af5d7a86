"""SIGKILL a driver whose reliable receiver writes a write-ahead log, restart it
with getOrCreate: every record the receiver acknowledged is in the output
exactly once, and no record is lost.

The test runs the source: a TCP server on 127.0.0.1 sending numbered records
to the receiver of wal_apps/acking_receiver.py, which acknowledges each block
once ``storeAll`` returned. On reconnection the server resends what was not
acknowledged, so a record stored but not yet acknowledged at the crash may
come twice (at-least-once); a record sent once must appear exactly once.
"""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support import (assert_at_least_once_and_once_if_sent_once, batch_output_counts, finish_driver,
                     kill_driver_twice)

APP = Path(__file__).parent / "wal_apps" / "acking_receiver.py"
TOTAL = 600
CHUNK = 5


class RecordServer:
    """Sends records ``0..total-1``, ``chunk`` per line, to whoever connects and
    waits for ``ACK n`` (all records up to n) after each line; a new
    connection starts again after the highest acknowledged record. Counts how
    often each record was sent."""

    def __init__(self, total: int, chunk: int) -> None:
        self.total, self.chunk = total, chunk
        self.acked = -1
        self.sent: collections.Counter[int] = collections.Counter()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="test-record-server")
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="test-record-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            acks = conn.makefile("rb")
            try:
                with self._lock:
                    nxt = self.acked + 1
                while nxt < self.total:
                    chunk = list(range(nxt, min(nxt + self.chunk, self.total)))
                    with self._lock:
                        self.sent.update(chunk)
                    conn.sendall((" ".join(map(str, chunk)) + "\n").encode())
                    line = acks.readline()
                    if not line:
                        return
                    n = int(line.split()[1])
                    with self._lock:
                        self.acked = max(self.acked, n)
                    nxt = n + 1
                acks.read()  # everything acknowledged: hold the connection until the driver closes it
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def launch(tmp: Path, out: Path, port: int, master: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(APP), str(tmp / "checkpoint"), str(out), str(port), str(TOTAL),
                             "--master", master], stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("master,seed", [("local", 1), ("local[2]", 2)])
def test_sigkilled_driver_with_write_ahead_log_outputs_every_acknowledged_record_once(
        tmp_path: Path, master: str, seed: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    server = RecordServer(TOTAL, CHUNK)
    try:
        # only_in_log: acknowledged records not yet output when the driver died (recovery needs the log)
        killed, only_in_log = kill_driver_twice(lambda: launch(tmp_path, out, server.port, master),
                                                lambda: range(server.acked + 1), TOTAL, seed, out)
        acked_before_last_run = server.acked
        assert finish_driver(launch(tmp_path, out, server.port, master)) == 0
    finally:
        server.close()
    assert killed == 2 and 0 <= acked_before_last_run < TOTAL - 1 and only_in_log > 0
    assert os.listdir(tmp_path / "checkpoint" / "receivedData" / "0")
    assert_at_least_once_and_once_if_sent_once(batch_output_counts(out), server.sent, TOTAL)
