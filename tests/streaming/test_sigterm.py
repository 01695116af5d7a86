"""SIGTERM to a running application stops its StreamingContext gracefully:
everything already received is processed before the process ends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from support import wait_until


APP = Path(__file__).parent / "crash_apps" / "sigterm_app.py"


def run_until_stored(out: Path, *flags: str, new_session: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(APP), str(out), "1000", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "stored":
        proc.kill()
        raise AssertionError(f"the app did not start: {line!r} {proc.communicate()[1][-3000:]}")
    return proc


def _ignores(pid: int, sig: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    return bool(mask & (1 << (sig - 1)))


def counts(out: Path) -> list[int]:
    return [int(x) for x in out.read_text().split()] if out.exists() else []


def test_sigterm_processes_every_received_record_then_awaitTermination_returns(tmp_path: Path) -> None:
    out = tmp_path / "counts.txt"
    proc = run_until_stored(out)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    assert "terminated normally" in stdout
    assert sum(counts(out)) == 1000


def test_sigterm_to_the_whole_process_group_leaves_the_workers_to_the_driver(tmp_path: Path) -> None:
    """``timeout``, ``kill -- -PGID`` and service managers signal every process
    of the group: the workers ignore it, so the graceful stop runs its last
    batch on them instead of starting new ones."""
    out = tmp_path / "counts.txt"
    proc = run_until_stored(out, "--workers", new_session=True)
    assert proc.stdout is not None
    workers = proc.stdout.readline().split()
    assert workers[0] == "workers" and len(workers) == 3
    for pid in workers[1:]:  # a worker ignores SIGTERM once its interpreter has started
        wait_until(lambda: _ignores(int(pid), signal.SIGTERM), f"worker {pid} to start")
    os.killpg(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    assert f"workers at the end {' '.join(workers[1:])}" in stdout
    assert sum(counts(out)) == 1000


def test_sigterm_ends_a_process_whose_main_thread_does_not_wait(tmp_path: Path) -> None:
    out = tmp_path / "counts.txt"
    proc = run_until_stored(out, "--no-await")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert sum(counts(out)) == 1000


def test_sigterm_without_graceful_shutdown_drops_unprocessed_records(tmp_path: Path) -> None:
    out = tmp_path / "counts.txt"
    proc = run_until_stored(out, "--not-graceful")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    assert "terminated normally" in stdout
    assert sum(counts(out)) == 0
    assert "were not processed" in stderr
