"""Kill the driver with SIGKILL, restart it with getOrCreate: the output is
exactly that of a run without crash (nothing lost, nothing doubled).

The program (crash_apps/file_pipeline.py) reads a directory of files on a
manual clock it advances itself, keeps running counts and a sliding window,
and writes one file per batch and stream. Each file's modification time puts
it in one batch, so a crash-free run is deterministic and every trial can be
compared with it file by file.
"""
from __future__ import annotations

import filecmp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import finish_driver, wait_until

APP = Path(__file__).parent / "crash_apps" / "file_pipeline.py"
BATCHES = 20


def write_input(directory: Path) -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(40)]
    for i in range(1, BATCHES + 1):
        if i % 7 == 0:
            continue  # some batches without input: the window must shrink back
        path = directory / f"part-{i:03d}.txt"
        path.write_text("".join(" ".join(rng.choices(vocab, k=12)) + "\n" for _ in range(300)))
        mtime_ns = (i * 1000 - 400) * 1_000_000  # inside batch i (manual clock starts at 0)
        os.utime(path, ns=(mtime_ns, mtime_ns))


def launch(tmp: Path, inp: Path, out: Path, master: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(APP), str(tmp / "checkpoint"), str(inp), str(out), str(BATCHES),
                             "--master", master, *extra], stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("crash")
    inp, expected = root / "input", root / "expected"
    inp.mkdir()
    expected.mkdir()
    write_input(inp)
    assert finish_driver(launch(root, inp, expected, "local")) == 0
    assert len(os.listdir(expected)) == 2 * BATCHES
    return inp, expected


def assert_same_output(expected: Path, out: Path) -> None:
    cmp = filecmp.dircmp(expected, out)
    assert not cmp.left_only, f"batches missing after recovery: {sorted(cmp.left_only)[:5]}"
    assert not cmp.right_only, f"unexpected files: {sorted(cmp.right_only)[:5]}"
    _, mismatch, errors = filecmp.cmpfiles(expected, out, os.listdir(expected), shallow=False)
    assert not mismatch and not errors, f"batches whose output differs from a crash-free run: {mismatch[:5]}"


def run_with_kills(tmp: Path, inp: Path, master: str, seed: int, kills: int) -> tuple[Path, int]:
    """Start the driver, SIGKILL it at a random point of its progress (``kills``
    times), then let a last restart run to the end."""
    rng = random.Random(seed)
    out = tmp / "out"
    out.mkdir()
    done = 0
    for _ in range(kills):
        proc = launch(tmp, inp, out, master)
        target = rng.randint(0, 2 * BATCHES - 2)  # output files written before the kill
        try:
            wait_until(lambda: len(os.listdir(out)) >= target or proc.poll() is not None,
                       "driver progress", timeout=60)
            time.sleep(rng.uniform(0, 0.03))
        finally:
            proc.send_signal(signal.SIGKILL)
        done += finish_driver(proc) == -signal.SIGKILL
    assert finish_driver(launch(tmp, inp, out, master)) == 0
    return out, done


@pytest.mark.parametrize("master,seed,kills", [("local", s, 1 + s % 2) for s in range(6)]
                         + [("local[2]", s, 1 + s % 2) for s in range(6, 10)])
def test_sigkill_at_random_moments_then_getOrCreate_equals_crash_free_run(
        tmp_path: Path, workload: tuple[Path, Path], master: str, seed: int, kills: int) -> None:
    inp, expected = workload
    out, killed = run_with_kills(tmp_path, inp, master, seed, kills)
    assert killed >= 1
    assert_same_output(expected, out)


@pytest.mark.parametrize("k", [3, 9, 17, 26, 41, 58])
def test_sigkill_during_a_checkpoint_write_then_getOrCreate_equals_crash_free_run(
        tmp_path: Path, workload: tuple[Path, Path], k: int) -> None:
    """The driver kills itself at its k-th fsync: a metadata or data
    checkpoint is written to a temporary file but not renamed into place."""
    inp, expected = workload
    out = tmp_path / "out"
    out.mkdir()
    assert finish_driver(launch(tmp_path, inp, out, "local", "--die-at-fsync", str(k))) == -signal.SIGKILL
    assert finish_driver(launch(tmp_path, inp, out, "local")) == 0
    assert_same_output(expected, out)


def test_corrupt_newest_checkpoint_recovers_from_the_previous_one(
        tmp_path: Path, workload: tuple[Path, Path]) -> None:
    inp, expected = workload
    out = tmp_path / "out"
    out.mkdir()
    proc = launch(tmp_path, inp, out, "local")
    wait_until(lambda: len(os.listdir(out)) >= BATCHES or proc.poll() is not None, "driver progress", timeout=60)
    proc.send_signal(signal.SIGKILL)
    assert finish_driver(proc) == -signal.SIGKILL
    ckdir = tmp_path / "checkpoint"
    files = sorted(ckdir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(files) >= 2
    newest = files[-1].read_bytes()
    files[-1].write_bytes(newest[: len(newest) // 2])  # torn
    if len(files) >= 3:
        middle = bytearray(files[-2].read_bytes())
        middle[len(middle) // 3] ^= 0xFF  # and a flipped byte in the next one
        files[-2].write_bytes(bytes(middle))
    assert finish_driver(launch(tmp_path, inp, out, "local")) == 0
    assert_same_output(expected, out)
