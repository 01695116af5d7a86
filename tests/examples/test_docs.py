"""The code in README.md and docs/ runs and does what the text says.

Fenced ``python`` blocks are taken from the documents as they are: a block
whose first line is ``# test_<name>.py`` runs under pytest, any other block
runs as a script (the README's streaming program runs against a real TCP
server and is stopped once it has printed the counts).
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from example_support import ROOT, LineServer, pprint_batches

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(doc: str) -> list[str]:
    return FENCE.findall((ROOT / doc).read_text())


def run_script(code: str, tmp_path: Path) -> str:
    script = tmp_path / "doc_example.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def run_pytest_file(code: str, tmp_path: Path) -> None:
    name = code.splitlines()[0].removeprefix("# ").strip()
    (tmp_path / name).write_text(code)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert re.search(r"\b[1-9]\d* passed\b", proc.stdout) and "failed" not in proc.stdout, proc.stdout


def test_every_example_in_the_testing_guide_passes(tmp_path):
    blocks = python_blocks("docs/testing.md")
    assert len(blocks) >= 2
    for i, code in enumerate(blocks):
        where = tmp_path / f"block{i}"
        where.mkdir()
        if re.match(r"# test_\w+\.py\n", code):
            run_pytest_file(code, where)
        else:
            run_script(code, where)


def test_readme_testing_example_passes(tmp_path):
    blocks = [b for b in python_blocks("README.md") if "fluvial.testing" in b]
    assert len(blocks) == 1
    run_script(blocks[0], tmp_path)


def test_readme_streaming_program_counts_words_from_a_socket(tmp_path):
    [program] = [b for b in python_blocks("README.md") if "socketTextStream" in b]
    assert len(program.strip().splitlines()) <= 10
    assert "9999" in program
    server = LineServer(["to be or not to be"] * 3)
    script = tmp_path / "network_wordcount.py"
    script.write_text(program.replace("9999", str(server.port)))
    proc = subprocess.Popen([sys.executable, "-u", str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            counts: dict = {}
            for batch in pprint_batches("".join(seen)):
                for word, n in batch:
                    counts[word] = counts.get(word, 0) + n
            if counts == {"to": 6, "be": 6, "or": 3, "not": 3}:
                break
        assert counts == {"to": 6, "be": 6, "or": 3, "not": 3}, "".join(seen)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does; the program has no other way to stop
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        server.close()
