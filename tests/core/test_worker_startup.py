"""What worker processes load at start, the pipe they talk over, and import
caches in workers that import lazily."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

import pytest

from fluvial.core.worker import Pipe
from support import make_context


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_fluvial_loads_no_engine_module():
    loaded = _modules_after("import fluvial")
    assert {m for m in loaded if m.startswith("fluvial")} == {"fluvial"}
    assert "typing" not in loaded


def test_worker_module_loads_neither_the_engine_nor_cloudpickle_before_its_first_task():
    loaded = _modules_after("import fluvial.core.worker")
    assert {m for m in loaded if m.startswith("fluvial")} == {"fluvial", "fluvial.core", "fluvial.core.worker"}
    assert not loaded & {"cloudpickle", "pickle", "multiprocessing.connection", "socket", "typing"}


def test_public_names_resolve_lazily_to_the_defining_modules():
    import fluvial
    import fluvial.core
    from fluvial.core.context import SparkContext
    from fluvial.core.shuffle import portable_hash
    assert fluvial.SparkContext is SparkContext
    assert fluvial.core.portable_hash is portable_hash
    assert set(fluvial.__all__) <= set(dir(fluvial))
    assert set(fluvial.core.__all__) <= set(dir(fluvial.core))
    for name in fluvial.__all__ + fluvial.core.__all__:
        assert getattr(fluvial.core if name in fluvial.core.__all__ else fluvial, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        fluvial.NoSuchName  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        fluvial.core.NoSuchName  # noqa: B018


def test_py_file_added_after_a_worker_looked_for_a_module_is_importable_there(tmp_path):
    # The first task puts the (not yet created) files directory on the
    # worker's sys.path and looks for a missing module, so the worker's import
    # system records the directory as absent; the file added next must still
    # be found by the following task.
    with make_context("processes", cores=1) as sc:
        def probe(_):
            try:
                __import__("fluvial_no_such_module_for_this_test")
            except ModuleNotFoundError:
                return "missing"
            return "found"
        assert sc.parallelize([0], 1).map(probe).collect() == ["missing"]
        mod = tmp_path / f"fluvial_shipped_late_{os.getpid()}.py"
        mod.write_text("VALUE = 'late'\n")
        sc.addPyFile(str(mod))
        name = mod.stem
        assert sc.parallelize([0], 1).map(lambda _: __import__(name).VALUE).collect() == ["late"]


@pytest.mark.parametrize("size", [0, 1, 16384, 16385, 3_000_001])
def test_pipe_frames_messages_as_multiprocessing_connection_does(size):
    a, b = socket.socketpair()
    ours, theirs = Pipe(a.detach()), Connection(b.detach())
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    try:
        writer = threading.Thread(target=ours.send_bytes, args=(payload,))
        writer.start()
        assert theirs.recv_bytes() == payload
        writer.join()
        writer = threading.Thread(target=theirs.send_bytes, args=(payload,))
        writer.start()
        assert ours.recv_bytes() == payload
        writer.join()
    finally:
        ours.close()
        theirs.close()


def test_pipe_tells_a_close_between_messages_from_one_within_a_message():
    a, b = socket.socketpair()
    ours = Pipe(a.detach())
    b.sendall((10).to_bytes(4, "big") + b"0123456789")
    b.sendall((10).to_bytes(4, "big") + b"01234")
    b.close()
    try:
        assert ours.recv_bytes() == b"0123456789"
        with pytest.raises(OSError, match="end of file during message"):
            ours.recv_bytes()
    finally:
        ours.close()
    a, b = socket.socketpair()
    ours = Pipe(a.detach())
    b.close()
    try:
        with pytest.raises(EOFError):
            ours.recv_bytes()
    finally:
        ours.close()


def _collections_while_building_groups(_it):
    import gc
    before = gc.get_stats()[0]["collections"]
    groups = [(str(i), [i]) for i in range(30_000)]  # 60k containers, all alive
    return [gc.get_stats()[0]["collections"] - before, len(groups)]  # Python's default threshold: about 80


def _collected_after_making_cycles(_it):
    import gc

    class Node:
        pass

    before = sum(s["collected"] for s in gc.get_stats())
    for _ in range(300_000):
        node = Node()
        node.me = node  # garbage only the cyclic collector frees
    return [sum(s["collected"] for s in gc.get_stats()) - before]


@pytest.fixture(scope="module")
def worker_sc():
    sc = make_context("processes", cores=2)
    yield sc
    sc.stop()


def test_a_worker_task_building_tens_of_thousands_of_groups_runs_at_most_one_garbage_collection(worker_sc):
    collections, built = worker_sc.parallelize([0], 1).mapPartitions(_collections_while_building_groups).collect()
    assert built == 30_000 and collections <= 1  # (one when the count was already high at the start)


def test_a_worker_still_collects_cyclic_garbage_within_a_task(worker_sc):
    [collected] = worker_sc.parallelize([0], 1).mapPartitions(_collected_after_making_cycles).collect()
    assert collected >= 150_000, collected  # a collection at least every 100k allocations
