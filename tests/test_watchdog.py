"""The test-run watchdog of ``tests/conftest.py``: a test whose cleanup blocks
after pytest-timeout failed it ends the run, with every thread's stack,
instead of hanging until CI's limit."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def test_a_test_blocking_after_its_timeout_ends_the_run_with_the_stacks(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\ntimeout = 1\n")
    (tmp_path / "test_stuck.py").write_text(
        "import threading, time\n"
        "def test_cleanup_blocks():\n"
        "    try:\n"
        "        time.sleep(60)\n"
        "    finally:\n"
        "        threading.Event().wait(60)   # a cleanup that never returns\n"
        "def test_never_reached():\n"
        "    pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-c", str(tmp_path / "pytest.ini"),
                          "--rootdir", str(tmp_path), str(tmp_path / "test_stuck.py")],
                         capture_output=True, text=True, timeout=50, cwd=tmp_path,
                         env={"PYTHONPATH": str(TESTS), "PATH": ""})
    output = run.stdout + run.stderr
    assert run.returncode == 3, output
    assert "test_stuck.py::test_cleanup_blocks still running after 2 s" in run.stderr
    assert "+ Timeout +" in output                     # pytest-timeout's report at 1 s is not lost
    assert 'test_stuck.py", line 6 in test_cleanup_blocks' in run.stderr   # where the main thread is
    assert "test_never_reached" not in output
