"""Recovery with StreamingContext.getOrCreate, in one process: what is
restored, what is refused and why. (Crashes of real processes are in
test_crash_recovery.py.)"""
from __future__ import annotations

import operator
import os
import threading
import uuid
from pathlib import Path

import pytest

from fluvial import SparkConf, SparkContext
from fluvial.streaming import Receiver, StreamingContext
from fluvial.streaming.checkpoint.store import CheckpointError
from fluvial.testing import queue_source


@pytest.fixture
def sc():
    ctx = SparkContext(conf=SparkConf().setMaster("local").setAppName("recovery")
                       .set("spark.streaming.clock", "manual"))
    yield ctx
    active = StreamingContext.getActive()
    if active is not None:
        active.stop(stopSparkContext=False)
    ctx.stop()


def write_batches(directory: Path, batches: dict[int, str]) -> None:
    directory.mkdir(exist_ok=True)
    for i, text in batches.items():
        path = directory / f"in-{i:03d}.txt"
        path.write_text(text)
        ns = (i * 1000 - 300) * 1_000_000
        os.utime(path, ns=(ns, ns))


def file_sink(directory: Path):
    directory.mkdir(exist_ok=True)

    def save(t, rdd):
        ms = int(t.timestamp() * 1000)
        (directory / f"{ms:08d}.txt").write_text(repr(sorted(rdd.collect())))
    return save


def build(sc: SparkContext, inp: Path, out: Path) -> StreamingContext:
    ssc = StreamingContext(sc, 1)
    pairs = ssc.textFileStream(str(inp)).flatMap(str.split).map(lambda w: (w, 1))
    counts = pairs.updateStateByKey(lambda vs, s: sum(vs) + (s or 0))
    counts.checkpoint(2)
    counts.join(pairs.reduceByKeyAndWindow(operator.add, operator.sub, 2, 1)).foreachRDD(file_sink(out))
    return ssc


def run_to(ssc: StreamingContext, seconds: int) -> None:
    if ssc.getState() == "INITIALIZED":
        ssc.start()
    while ssc.clock.time_ms() < seconds * 1000:
        ssc.clock.advance(1)


def outputs(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


INPUT = {i: " ".join(f"k{(i * j) % 5}" for j in range(i + 3)) + "\n" for i in range(1, 13)}


@pytest.mark.parametrize("scheme", ["local", "memory"])
def test_getOrCreate_resumes_state_and_windows_where_the_stopped_context_left_off(
        sc: SparkContext, tmp_path: Path, scheme: str) -> None:
    write_batches(tmp_path / "in", INPUT)
    ckpt = str(tmp_path / "ckpt") if scheme == "local" else f"memory://fluvial-test-{uuid.uuid4().hex}"
    ref = build(sc, tmp_path / "in", tmp_path / "expected")
    ref.checkpoint(str(tmp_path / "ref-ckpt"))
    run_to(ref, 12)
    ref.stop(stopSparkContext=False)

    calls = []

    def setup() -> StreamingContext:
        calls.append(1)
        return build(sc, tmp_path / "in", tmp_path / "out")

    first = StreamingContext.getOrCreate(ckpt, setup)
    run_to(first, 5)
    first.stop(stopSparkContext=False)
    second = StreamingContext.getOrCreate(ckpt, setup)
    assert calls == [1], "setupFunc must not run when a checkpoint exists"
    assert second.clock.time_ms() == 5000
    run_to(second, 12)
    second.stop(stopSparkContext=False)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "expected")


def test_queue_stream_is_checkpointed_but_recovery_is_refused(sc: SparkContext, tmp_path: Path) -> None:
    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        queue_source(ssc, [[1], [2]]).updateStateByKey(lambda vs, s: s).foreachRDD(lambda rdd: None)
        return ssc

    ssc = StreamingContext.getOrCreate(str(tmp_path), setup)
    run_to(ssc, 2)
    ssc.stop(stopSparkContext=False)
    with pytest.raises(ValueError, match="queueStream doesn't support checkpointing"):
        StreamingContext.getOrCreate(str(tmp_path), setup)


def test_unpicklable_function_fails_start_with_a_clear_error(sc: SparkContext, tmp_path: Path) -> None:
    lock = threading.Lock()
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path))
    queue_source(ssc, [[1]]).map(lambda x: (lock, x)).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match="checkpointing has been enabled but the DStreams with their functions "
                                         "are not serializable.*lock"):
        ssc.start()
    assert ssc.getState() == "STOPPED"


def test_rdd_captured_by_a_function_is_checkpointed_and_restored(
        sc: SparkContext, tmp_path: Path) -> None:
    write_batches(tmp_path / "in", {1: "a b\n", 2: "b c\n", 3: "c\n"})
    weights = sc.parallelize([("a", 10), ("b", 20), ("c", 30)], 2)

    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        words = ssc.textFileStream(str(tmp_path / "in")).map(lambda w: (w.split()[0], 1))
        words.transform(lambda rdd: rdd.join(weights).mapValues(lambda p: p[1])).foreachRDD(
            file_sink(tmp_path / "out"))
        return ssc

    ssc = StreamingContext.getOrCreate(str(tmp_path / "ckpt"), setup)
    run_to(ssc, 1)
    ssc.stop(stopSparkContext=False)
    assert weights.isCheckpointed()
    recovered = StreamingContext.getOrCreate(str(tmp_path / "ckpt"), setup)
    run_to(recovered, 3)
    recovered.stop(stopSparkContext=False)
    assert outputs(tmp_path / "out") == {"00001000.txt": "[('a', 10)]", "00002000.txt": "[('b', 20)]",
                                         "00003000.txt": "[('c', 30)]"}


def test_checkpoint_signed_with_another_key_is_refused(sc: SparkContext, tmp_path: Path) -> None:
    write_batches(tmp_path / "in", {1: "a\n"})
    sc._conf.set("spark.fluvial.checkpoint.signingKey", "first key")
    ssc = StreamingContext.getOrCreate(str(tmp_path / "ckpt"), lambda: build(sc, tmp_path / "in", tmp_path / "out"))
    run_to(ssc, 2)
    ssc.stop(stopSparkContext=False)
    sc._conf.set("spark.fluvial.checkpoint.signingKey", "another key")
    with pytest.raises(CheckpointError, match="checkpoint-2000"):
        StreamingContext.getOrCreate(str(tmp_path / "ckpt"), lambda: build(sc, tmp_path / "in", tmp_path / "out"))
    sc._conf.set("spark.fluvial.checkpoint.signingKey", "first key")
    again = StreamingContext.getOrCreate(str(tmp_path / "ckpt"), lambda: build(sc, tmp_path / "in", tmp_path / "o2"))
    assert again.clock.time_ms() == 2000


def test_long_run_keeps_checkpoint_size_and_retained_rdds_flat(sc: SparkContext, tmp_path: Path) -> None:
    """Hundreds of batches with state: the checkpoint directory does not grow
    with the number of batches (old metadata and data checkpoints are deleted)."""
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path))
    source = queue_source(ssc, [])
    counts = source.map(lambda x: (x % 50, 1)).updateStateByKey(lambda vs, s: sum(vs) + (s or 0))
    counts.foreachRDD(lambda rdd: None)
    ssc.start()

    def footprint() -> tuple[int, int]:
        # the background writer may be renaming a temporary file meanwhile: count what is in place
        files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if ".tmp-" not in f]
        sizes = []
        for f in files:
            try:
                sizes.append(os.path.getsize(f))
            except FileNotFoundError:
                pass
        return len(sizes), sum(sizes)

    sizes = {}
    for i in range(1, 301):
        with source._qlock:
            source.queue.append(sc.parallelize(range(i, i + 20), 1))
        ssc.clock.advance(1)
        if i in (100, 300):
            sizes[i] = (footprint(), len(counts._generated), sum(map(len, sc._blocks._owners.values())))
    ssc.stop(stopSparkContext=False)
    (files_a, bytes_a), gen_a, blocks_a = sizes[100]
    (files_b, bytes_b), gen_b, blocks_b = sizes[300]
    assert files_b <= files_a + 2 and bytes_b <= bytes_a * 1.2 + 4096, sizes
    assert gen_b <= gen_a and blocks_b <= blocks_a + 4, sizes


class _ThreadedReceiver(Receiver):
    """Keeps a thread and a lock in attributes once started, as receivers do."""

    def onStart(self) -> None:
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=lambda: self.storeAll(["x", "y"]), daemon=True)
        self.thread.start()


def test_a_running_receiver_with_threads_in_attributes_is_checkpointed_as_configured(
        sc: SparkContext, tmp_path: Path) -> None:
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path))
    receiver = _ThreadedReceiver()
    ssc.receiverStream(receiver).count().foreachRDD(lambda rdd: None)
    ssc.start()
    run_to(ssc, 3)
    ssc.stop(stopSparkContext=False)
    assert ssc.awaitTerminationOrTimeout(0)
    assert receiver.thread is not None


def test_a_receiver_that_cannot_be_pickled_fails_start_naming_it(sc: SparkContext, tmp_path: Path) -> None:
    class Holding(Receiver):
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()

        def onStart(self) -> None:
            pass

    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path))
    ssc.receiverStream(Holding()).foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match="Holding .*cannot be saved in a metadata checkpoint.*onStart"):
        ssc.start()
