"""Running the examples as real programs, and reading what they print.

(No conftest.py here on purpose: other test modules import names from
``tests/conftest.py`` as ``conftest``, which a second conftest would shadow.
Test modules import the ``line_server`` fixture from this module.)

``run_example`` starts ``examples/<name>`` with this interpreter in a
subprocess (unbuffered, so output can be read while it runs); ``LineServer`` is
a real TCP server on 127.0.0.1 that sends lines to every client that connects,
then keeps the connection open until the test ends (as ``nc -lk`` would).
``pprint_batches`` parses what ``DStream.pprint`` printed.
"""
from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def start_example(name: str, *args: str) -> subprocess.Popen:
    """Start an example; its stdout is a text pipe, its stderr goes to a temporary file."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONHASHSEED="0")
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=err, text=True)
    proc.err_file = err  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[str, str]:
    """Wait for the example to end by itself; return the rest of its stdout (what
    was not read yet) and its stderr. Fails with its output if it errs."""
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    timed_out = reader.is_alive()
    if timed_out:
        proc.kill()
        reader.join()
    proc.wait()
    proc.err_file.seek(0)  # type: ignore[attr-defined]
    err = proc.err_file.read()  # type: ignore[attr-defined]
    proc.err_file.close()  # type: ignore[attr-defined]
    out = "".join(rest)
    if timed_out:
        pytest.fail(f"example did not end within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err, err
    return out, err


def run_example(name: str, *args: str, timeout: float = 30) -> str:
    out, _ = finish(start_example(name, *args), timeout)
    return out


def pprint_batches(output: str) -> list[list]:
    """The records of each batch ``pprint`` printed, in order (``...`` lines dropped)."""
    batches: list[list] = []
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("Time: ") and i > 0 and lines[i - 1].startswith("-----"):
            records = []
            i += 2  # the closing dashes
            while i < len(lines) and lines[i] != "":
                if lines[i] != "...":
                    records.append(ast.literal_eval(lines[i]))
                i += 1
            batches.append(records)
        i += 1
    return batches


class LineServer:
    """Accepts connections on 127.0.0.1 and sends ``lines`` to each client."""

    def __init__(self, lines: list[str]) -> None:
        self.payload = "".join(line + "\n" for line in lines).encode()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)
            conn.sendall(self.payload)

    def close(self) -> None:
        self.sock.close()
        for c in self.clients:
            c.close()


@pytest.fixture
def line_server():
    """``line_server(lines)`` starts a :class:`LineServer`; all are closed after the test."""
    servers: list[LineServer] = []

    def make(lines: list[str]) -> LineServer:
        server = LineServer(lines)
        servers.append(server)
        return server
    yield make
    for s in servers:
        s.close()
