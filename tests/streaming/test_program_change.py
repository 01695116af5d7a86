"""A checkpoint written by another version of the program is refused with a
message that says what changed and what to do, instead of being half-loaded."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).parent / "crash_apps" / "changing_app.py"


def setup_program(tmp: Path) -> Path:
    prog = tmp / "prog"
    prog.mkdir()
    shutil.copy(APP, prog / "app.py")
    (prog / "ops.py").write_text("def words(line):\n    return line.split()\n")
    (tmp / "in").mkdir()
    return prog


def run(tmp: Path, prog: Path, end: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(prog / "app.py"), str(tmp / "ckpt"), str(tmp / "in"),
                           str(tmp / "out" / "counts"), str(end)], capture_output=True, text=True, timeout=60)


def test_changed_module_function_is_refused(tmp_path: Path) -> None:
    prog = setup_program(tmp_path)
    assert run(tmp_path, prog, 2).returncode == 0
    (prog / "ops.py").write_text("def words(line):\n    return line.lower().split()\n")
    second = run(tmp_path, prog, 4)
    assert second.returncode != 0
    assert "no longer matches the code that loads it" in second.stderr
    assert "Delete the checkpoint directory" in second.stderr


def test_changed_main_script_is_refused_unless_allowed(tmp_path: Path) -> None:
    prog = setup_program(tmp_path)
    assert run(tmp_path, prog, 2).returncode == 0
    script = (prog / "app.py").read_text()
    (prog / "app.py").write_text(script.replace("def main() -> None:", "def main() -> None:\n    changed = True"))
    second = run(tmp_path, prog, 4)
    assert second.returncode != 0
    assert "was written by a different program" in second.stderr
    assert "spark.fluvial.checkpoint.allowProgramChange=true" in second.stderr
    allowed = script.replace("    ssc = StreamingContext.getOrCreate(",
                             "    SparkContext.setSystemProperty('spark.fluvial.checkpoint.allowProgramChange', 'true')\n"
                             "    ssc = StreamingContext.getOrCreate(")
    (prog / "app.py").write_text(allowed)
    third = run(tmp_path, prog, 4)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "although the program changed" in third.stderr


def test_a_main_script_edited_in_comments_and_layout_only_recovers(tmp_path: Path) -> None:
    prog = setup_program(tmp_path)
    assert run(tmp_path, prog, 2).returncode == 0
    script = (prog / "app.py").read_text()
    (prog / "app.py").write_text("# a new first line\n\n" + script.replace("def main() -> None:",
                                                                         "def main() -> None:  # a comment"))
    second = run(tmp_path, prog, 4)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "different program" not in second.stderr
