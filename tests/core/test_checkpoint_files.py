"""RDD data checkpoints on files and fsspec URLs, and the fsio helpers under them.

Runs on both executors (the module-scoped ``sc``); ``memory://`` checkpoints
with worker processes prove that only the driver touches checkpoint files.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import uuid

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from fluvial.core import fsio
from fluvial.core.shuffle import ShuffleDependency
from support import wait_until

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


@pytest.fixture
def memory_url():
    """A fresh ``memory://`` directory, removed afterwards."""
    url = f"memory://fluvial-test-{uuid.uuid4().hex}"
    yield url
    fsio.remove(url, recursive=True)


@pytest.fixture(params=["local", "memory"])
def cpdir(request, tmp_path, memory_url):
    return str(tmp_path / "cp") if request.param == "local" else memory_url


class _RenamingLocalFS(LocalFileSystem):
    """The local disk under a protocol fsio does not know, so writes take the
    generic temp-file-then-``fs.mv`` path."""

    protocol = ("fluvialtestfs",)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str) and path.startswith("fluvialtestfs://"):
            path = path[len("fluvialtestfs://"):]
        return super()._strip_protocol(path)


fsspec.register_implementation("fluvialtestfs", _RenamingLocalFS, clobber=True)


def _pairs(sc, n=60, parts=3):
    return sc.parallelize([(i % 7, i) for i in range(n)], 4).partitionBy(parts)


def _shuffles(rdd) -> list[ShuffleDependency]:
    found, stack, seen = [], [rdd], set()
    while stack:
        r = stack.pop()
        if r.id() in seen:
            continue
        seen.add(r.id())
        for d in r._deps:
            if isinstance(d, ShuffleDependency):
                found.append(d)
            stack.append(d.rdd)
    return found


# --------------------------------------------------------------------- fsio
@pytest.mark.parametrize("kind", ["local", "file-url", "memory", "rename-fs"])
def test_atomic_write_replaces_whole_file_and_leaves_no_temp_files(kind, tmp_path, memory_url):
    base = {"local": str(tmp_path), "file-url": f"file://{tmp_path}", "memory": memory_url,
            "rename-fs": f"fluvialtestfs://{tmp_path}"}[kind]
    url = fsio.join(base, "sub", "data")
    fsio.atomic_write(url, b"first version")            # the parent directory is created
    fsio.atomic_write(url, b"second")
    assert fsio.read_bytes(url) == b"second"
    assert fsio.size(url) == 6 and fsio.exists(url)
    assert fsio.list_names(fsio.join(base, "sub")) == ["data"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    url = str(tmp_path / "f")
    fsio.atomic_write(url, b"old")
    with pytest.raises(TypeError):
        fsio.atomic_write(url, "not bytes")              # type: ignore[arg-type]
    assert fsio.read_bytes(url) == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_killed_writer_leaves_old_or_new_file_never_a_torn_one(tmp_path):
    target = tmp_path / "f"
    size = 4 << 20
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.abspath(SRC)!r})
        from fluvial.core import fsio
        i = 0
        while True:
            fsio.atomic_write({str(target)!r}, bytes([i % 251]) * {size})
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", child])
    try:
        wait_until(lambda: target.exists() and target.stat().st_size == size and target.read_bytes()[0] >= 2,
                   "the writer to replace the file a few times", timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    data = target.read_bytes()
    assert len(data) == size and data == data[:1] * size


def test_list_names_and_remove_tolerate_missing_paths(tmp_path, memory_url):
    for base in (str(tmp_path / "nope"), fsio.join(memory_url, "nope")):
        assert fsio.list_names(base) == []
        fsio.remove(base)
        fsio.remove(base, recursive=True)
        assert not fsio.exists(base)


def test_remove_recursive_deletes_a_directory_tree(cpdir):
    fsio.atomic_write(fsio.join(cpdir, "d", "a"), b"1")
    fsio.atomic_write(fsio.join(cpdir, "d", "e", "b"), b"2")
    assert fsio.list_names(fsio.join(cpdir, "d")) == ["a", "e"]
    fsio.remove(fsio.join(cpdir, "d"), recursive=True)
    assert fsio.list_names(cpdir) == []


def test_local_paths_resolve_to_absolute_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, path = fsio.resolve("rel/x")
    assert isinstance(fs, LocalFileSystem) and path == str(tmp_path / "rel" / "x")
    assert fsio.resolve(f"file://{tmp_path}/a/../b")[1] == str(tmp_path / "b")
    assert fsio.is_local("rel") and fsio.is_local("file:///x") and not fsio.is_local("memory://x")
    assert fsio.absolute("rel") == str(tmp_path / "rel") and fsio.absolute("memory://a") == "memory://a"
    assert fsio.join("memory://a/", "b", "c") == "memory://a/b/c"


def test_unknown_protocol_is_refused_naming_the_url():
    with pytest.raises(ValueError, match=r"'nosuchproto://bucket/x'.*no fsspec filesystem.*'nosuchproto'"):
        fsio.resolve("nosuchproto://bucket/x")


@pytest.mark.skipif(importlib.util.find_spec("ocifs") is not None, reason="ocifs is installed here")
def test_protocol_of_a_missing_package_names_the_package():
    with pytest.raises(ValueError, match=r"'oci://bucket/x'.*ocifs"):
        fsio.resolve("oci://bucket/x")


# ----------------------------------------------------------- RDD checkpoints
def test_checkpoint_writes_every_part_then_meta(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    assert rdd.count() == 60
    path = rdd.getCheckpointFile()
    assert rdd.isCheckpointed() and path == fsio.join(sc.getCheckpointDir(), f"rdd-{rdd.id()}")
    assert fsio.list_names(path) == ["_meta", "part-00000", "part-00001", "part-00002"]
    meta = pickle.loads(fsio.read_bytes(fsio.join(path, "_meta")))
    assert meta == {"num_partitions": 3, "partitioner": rdd.partitioner}
    parts = [pickle.loads(fsio.read_bytes(fsio.join(path, f"part-0000{i}"))) for i in range(3)]
    assert parts == rdd.glom().collect()


def test_set_checkpoint_dir_keeps_a_per_context_subdirectory(sc, tmp_path, memory_url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc.setCheckpointDir("rel")
    assert sc.getCheckpointDir() == str(tmp_path / "rel" / f"fluvial-{sc.applicationId}")
    assert os.path.isdir(sc.getCheckpointDir())
    sc.setCheckpointDir(memory_url)
    assert sc.getCheckpointDir() == f"{memory_url}/fluvial-{sc.applicationId}"
    with pytest.raises(ValueError, match=r"setCheckpointDir: cannot open 'nosuchproto://x': "):
        sc.setCheckpointDir("nosuchproto://x")


def test_memory_checkpoint_serves_worker_processes(sc, memory_url):
    sc.setCheckpointDir(memory_url)
    rdd = sc.parallelize(range(100), 4).map(lambda x: x * 3)
    rdd.checkpoint()
    assert rdd.count() == 100
    assert rdd.isCheckpointed() and rdd.getCheckpointFile().startswith("memory://")
    assert rdd.filter(lambda x: x % 2 == 0).sum() == sum(x * 3 for x in range(100) if x * 3 % 2 == 0)


def test_missing_block_of_checkpointed_rdd_is_read_back_by_the_driver(sc, memory_url):
    sc.setCheckpointDir(memory_url)
    rdd = sc.parallelize(range(40), 4).map(lambda x: x + 1)
    rdd.checkpoint()
    rdd.count()
    sc._blocks.remove_owner("rdd", rdd.id())
    assert rdd.collect() == list(range(1, 41))
    assert len(sc._blocks.owner_blocks("rdd", rdd.id())) == 4


def test_checkpoint_file_round_trip_keeps_partitions_and_partitioner(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    rdd.count()
    loaded = sc._checkpointFile(rdd.getCheckpointFile())
    assert loaded.isCheckpointed() and loaded.getCheckpointFile() == rdd.getCheckpointFile()
    assert loaded.getNumPartitions() == 3 and loaded.partitioner == rdd.partitioner
    assert loaded.glom().collect() == rdd.glom().collect()


def test_join_with_the_same_partitioner_does_not_reshuffle_a_loaded_checkpoint(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    rdd.count()
    loaded = sc._checkpointFile(rdd.getCheckpointFile())
    other = sc.parallelize([(k, chr(97 + k)) for k in range(7)]).partitionBy(3)
    joined = loaded.join(other)
    assert _shuffles(joined) == _shuffles(other)           # only other's own partitionBy
    assert joined.partitioner == rdd.partitioner
    assert sorted(joined.collect()) == sorted((i % 7, (i, chr(97 + i % 7))) for i in range(60))


def test_checkpoint_written_by_another_process_loads(sc, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.abspath(SRC)!r})
        from fluvial import SparkContext
        sc = SparkContext("local", "writer")
        sc.setCheckpointDir({str(tmp_path)!r})
        rdd = sc.parallelize([(i % 5, i) for i in range(50)], 3).partitionBy(4)
        rdd.checkpoint()
        rdd.count()
        print(rdd.getCheckpointFile())
        sc.stop()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONHASHSEED": "0"}, check=True)
    path = out.stdout.strip().splitlines()[-1]
    loaded = sc._checkpointFile(path)
    assert loaded.getNumPartitions() == 4 and loaded.partitioner.numPartitions == 4
    assert sorted(loaded.collect()) == sorted((i % 5, i) for i in range(50))
    assert loaded.partitionBy(4) is loaded                  # same partitioner: no shuffle
    assert sorted(loaded.reduceByKey(lambda a, b: a + b).collect()) == [
        (k, sum(i for i in range(50) if i % 5 == k)) for k in range(5)]


def test_checkpoint_dir_without_meta_is_refused(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    rdd.count()
    path = rdd.getCheckpointFile()
    fsio.remove(fsio.join(path, "_meta"))
    with pytest.raises(ValueError, match=re.escape(path) + r".* no _meta file"):
        sc._checkpointFile(path)


def test_checkpoint_dir_missing_a_part_is_refused(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    rdd.count()
    path = rdd.getCheckpointFile()
    fsio.remove(fsio.join(path, "part-00001"))
    with pytest.raises(ValueError, match=re.escape(path) + r" is missing part-00001"):
        sc._checkpointFile(path)


def test_corrupt_meta_is_refused(sc, cpdir):
    sc.setCheckpointDir(cpdir)
    rdd = _pairs(sc)
    rdd.checkpoint()
    rdd.count()
    path = rdd.getCheckpointFile()
    fsio.atomic_write(fsio.join(path, "_meta"), b"\x80\x05garbage")
    with pytest.raises(ValueError, match=re.escape(path) + r": _meta is not a valid checkpoint description"):
        sc._checkpointFile(path)


def test_nonexistent_checkpoint_dir_is_refused(sc, tmp_path):
    with pytest.raises(ValueError, match=r"no _meta file"):
        sc._checkpointFile(str(tmp_path / "never-written"))
