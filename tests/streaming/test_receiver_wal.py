"""Receivers with the write-ahead log, on real files and a ManualClock, on both
executors: ``storeAll`` returns once its block is on disk, blocks are
numbered in storing order, batch allocations survive a pickle round trip
(as in a metadata checkpoint) and re-read the same blocks from the log,
blocks no checkpointed batch took go to the next batch, and
``_checkpoint_done`` deletes exactly the segments no batch still needs.

The receiver here stores what the test thread hands it: ``storeAll`` may be
called from any thread, so the test sees the moment it returns."""
from __future__ import annotations

import logging
import os
import threading
import uuid

import cloudpickle
import pytest

from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.sources.blocklog import BlockLog
from fluvial.streaming.sources.receiver import WAL_ENABLE_KEY, Receiver, ReceiverInputDStream
from fluvial.streaming.sources.socket import SocketReceiver
from fluvial.streaming.sources.supervisor import ReceiverSettings
from fluvial.streaming.util import time_to_ms
from fluvial.testing import ManualClock

from support import EXECUTORS, make_context


@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request: pytest.FixtureRequest):
    context = make_context(request.param, **{
        "spark.streaming.blockInterval": "1h",          # blocks are cut by storeAll and by batches only
        "spark.streaming.receiver.writeAheadLog.rollingIntervalSecs": "1",
        "spark.fluvial.checkpoint.keep": "1000",       # metadata checkpoints never clean logs behind the test
    })
    yield context
    context.stop()


@pytest.fixture
def wal_on(sc):
    sc._conf.set(WAL_ENABLE_KEY, "true")
    yield
    sc._conf.set(WAL_ENABLE_KEY, "false")


class Handed(Receiver):
    """Stores nothing by itself: the test calls store/storeAll."""

    def onStart(self) -> None:
        pass


def collect(stream) -> list:
    """(batch time, blocks of the batch's RDD) per batch."""
    out: list = []
    stream.foreachRDD(lambda t, rdd: out.append((time_to_ms(t), rdd.glom().collect())))
    return out


def logged(stream: ReceiverInputDStream) -> list[tuple[int, list]]:
    """(sequence number, records) of every block in the stream's log, read afresh from its files."""
    blocks, _ = BlockLog(stream.log_directory, 1000, stream._run_id).scan()
    return [(ref.seq, records) for ref, records in blocks]


def checkpoint_copy(stream: ReceiverInputDStream) -> bytes:
    """The stream as a metadata checkpoint keeps it: every attribute but the runtime ones."""
    drop = {"_ssc", "_sc", "_lock", "_generated"}
    drop |= {n for cls in type(stream).__mro__ for n in cls.__dict__.get("_transient", ())}
    return cloudpickle.dumps((type(stream), {k: v for k, v in stream.__dict__.items() if k not in drop}))


def restore(blob: bytes, ssc: StreamingContext) -> ReceiverInputDStream:
    """What recovery does with a checkpointed stream: unpickle, re-attach, ``_after_restore``."""
    cls, state = cloudpickle.loads(blob)
    stream = object.__new__(cls)
    stream.__dict__.update(state)
    stream._generated, stream._lock = {}, threading.RLock()
    stream._ssc, stream._sc = ssc, ssc._sc
    stream._after_restore()
    return stream


def new_context(sc, cp=None, start_ms=0):
    clock = ManualClock(start_ms)
    ssc = StreamingContext(sc, 1, clock=clock)
    if cp is not None:
        ssc.checkpoint(str(cp))
    return ssc, clock


def test_store_all_returns_once_its_block_is_in_the_log(sc, wal_on, tmp_path):
    ssc, clock = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc.receiverStream(rx)
    out = collect(stream)
    assert stream.log_directory == str(tmp_path / "receivedData" / str(stream.id))
    ssc.start()
    try:
        rx.storeAll(["a", "b"])
        assert logged(stream) == [(0, ["a", "b"])]
        rx.store("c")
        rx.store("d")
        assert len(logged(stream)) == 1                # store() alone only buffers
        rx.storeAll(["e"])                               # the buffer becomes a block first
        assert logged(stream) == [(0, ["a", "b"]), (1, ["c", "d"]), (2, ["e"])]
        rx.store("f")
        clock.advance(1)                                 # the batch writes the buffered record, then takes all
        assert logged(stream)[-1] == (3, ["f"])
        assert out == [(1000, [["a", "b"], ["c", "d"], ["e"], ["f"]])]
        refs = stream._batches[1000]
        assert [r.seq for r in refs] == [0, 1, 2, 3] and [r.records for r in refs] == [2, 2, 1, 1]
        assert all(r.handle is not None for r in refs) and stream._allocated_upto == 3
        rx.storeAll(["g"])
        clock.advance(1)
        assert out[-1] == (2000, [["g"]]) and [r.seq for r in stream._batches[2000]] == [4]
    finally:
        ssc.stop(stopSparkContext=False)


def test_write_ahead_log_without_checkpoint_directory_fails_to_start(sc, wal_on):
    ssc, _ = new_context(sc)
    collect(ssc.receiverStream(Handed()))
    with pytest.raises(ValueError, match=r"^Cannot enable receiver write-ahead log without checkpoint "
                                         r"directory set\. Please use streamingContext\.checkpoint\(\)"):
        ssc.start()
    assert ssc.getState() == "STOPPED"


def test_restored_stream_rereads_pending_blocks_and_puts_unallocated_ones_first(sc, wal_on, tmp_path, caplog):
    ssc1, clock1 = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc1.receiverStream(rx)
    collect(stream)
    ssc1.start()
    try:
        rx.storeAll(["a", "b"])
        rx.storeAll(["c"])
        clock1.advance(1)
        snapshot = checkpoint_copy(stream)               # checkpoint of batch 1000, which is pending in it
        rx.storeAll(["d"])
        clock1.advance(1)                                # batch 2000 took block 2: in no checkpoint
        rx.storeAll(["e"])
        rx.store("f")
    finally:
        with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
            ssc1.stop(stopSparkContext=False)            # no grace: e and f are in no batch
    assert "2 records stored by Handed were not processed" in caplog.text
    assert "kept in the write-ahead log" in caplog.text

    ssc2, clock2 = new_context(sc, tmp_path, start_ms=1000)
    restored = restore(snapshot, ssc2)
    assert restored is not stream and restored._batches.keys() == {1000}
    # the pending batch re-runs with the same blocks, read back from the log
    assert restored._compute(1000).glom().collect() == [["a", "b"], ["c"]]
    # what the restarted receiver stores comes after the recovered blocks, numbered on
    sup = restored._new_supervisor(lambda event: None, ReceiverSettings.from_conf(sc._conf), clock2)
    sup.start()
    try:
        restored.receiver.storeAll(["g"])
        refs = restored._allocate(2000)
        assert restored._compute(2000).glom().collect() == [["d"], ["e"], ["f"], ["g"]]
        assert [r.seq for r in refs] == [2, 3, 4, 5] and restored._allocated_upto == 5
    finally:
        sup.stop()
    assert restored.receiver.streamId == stream.id and restored.receiver._stream is restored


def test_without_the_log_a_restored_pending_batch_is_empty_and_the_loss_is_logged(sc, tmp_path, caplog):
    ssc1, clock1 = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc1.receiverStream(rx)
    collect(stream)
    ssc1.start()
    try:
        rx.storeAll(["a", "b"])
        rx.storeAll(["c"])
        clock1.advance(1)
        snapshot = checkpoint_copy(stream)
    finally:
        ssc1.stop(stopSparkContext=False)
    assert not os.path.exists(tmp_path / "receivedData")
    ssc2, clock2 = new_context(sc, tmp_path, start_ms=1000)
    restored = restore(snapshot, ssc2)
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        rdd = restored._compute(1000)
    assert rdd.getNumPartitions() == 0 and rdd.collect() == []
    assert "Batch 1000 ms" in caplog.text and "3 records in 2 blocks received before the driver restarted " \
        "are lost (the receiver write-ahead log is off" in caplog.text
    sup = restored._new_supervisor(lambda event: None, ReceiverSettings.from_conf(sc._conf), clock2)
    sup.start()
    try:
        restored.receiver.storeAll(["d"])
        assert [r.seq for r in restored._allocate(2000)] == [2]   # numbering goes on
    finally:
        sup.stop()


def test_checkpoint_done_deletes_only_segments_no_batch_still_needs(sc, wal_on, tmp_path):
    ssc, clock = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc.receiverStream(rx)
    collect(stream)
    log_dir = str(tmp_path / "receivedData" / str(stream.id))
    ssc.start()
    try:
        for record in "abcd":                            # one block per second of clock, one batch each
            rx.storeAll([record])
            clock.advance(1)
        rx.storeAll(["e"])                               # in no batch yet
        assert {t: [r.seq for r in refs] for t, refs in stream._batches.items()} == {4000: [3]}
        # blocks a@0, b@1000 in log-0-1000; c@2000, d@3000 in log-2000-3000; e@4000 in log-4000-5000
        assert sorted(os.listdir(log_dir)) == ["log-0-1000", "log-2000-3000", "log-4000-5000"]

        def after(safe_ms: int) -> list[str]:
            stream._checkpoint_done(safe_ms)
            return sorted(os.listdir(log_dir))

        assert after(1000) == ["log-0-1000", "log-2000-3000", "log-4000-5000"]   # b (batch 2000) needed
        assert after(2000) == ["log-2000-3000", "log-4000-5000"]
        assert after(3000) == ["log-2000-3000", "log-4000-5000"]                 # d (batch 4000) needed
        assert after(4000) == ["log-4000-5000"]           # e is in no batch yet: kept
        assert after(10 ** 9) == ["log-4000-5000"]
        clock.advance(1)
        assert stream._batches[5000][0].seq == 4
        assert logged(stream) == [(4, ["e"])]
    finally:
        ssc.stop(stopSparkContext=False)


def test_receivers_pickle_without_their_runtime_parts():
    rx = SocketReceiver("localhost", 9999)
    rx._supervisor = object()
    back = cloudpickle.loads(cloudpickle.dumps(rx))
    assert (back.host, back.port, back._supervisor, back._stream, back._conn) == ("localhost", 9999, None, None, None)
    assert isinstance(back._lock, type(threading.Lock()))

    class Holding(Handed):
        _transient = ("sock",)

        def __init__(self) -> None:
            super().__init__()
            self.sock = threading.Lock()
            self.offset = 42

    held = cloudpickle.loads(cloudpickle.dumps(Holding()))
    assert (held.sock, held.offset) == (None, 42)


def test_an_object_store_checkpoint_directory_keeps_one_log_object_per_block(sc, wal_on):
    import fsspec
    root = f"memory://receiver-wal-{uuid.uuid4().hex}"
    ssc, clock = new_context(sc, root)
    rx = Handed()
    stream = ssc.receiverStream(rx)
    out = collect(stream)
    ssc.start()
    try:
        rx.storeAll([1, 2])
        rx.storeAll([3])
        assert logged(stream) == [(0, [1, 2]), (1, [3])]
        fs = fsspec.filesystem("memory")
        objects = fs.find(f"{root.removeprefix('memory://')}/receivedData/{stream.id}")
        assert [o.rsplit("/", 1)[1] for o in objects] == ["000000000000", "000000000001"]
        clock.advance(1)
        assert out == [(1000, [[1, 2], [3]])]
    finally:
        ssc.stop(stopSparkContext=False)
        fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


_RUNNING, _RELEASE = threading.Event(), threading.Event()


def _hold_batch_2000(t, rdd) -> None:
    """An output that blocks while batch 2000 runs (module level: checkpoints pickle it by reference)."""
    if time_to_ms(t) == 2000:
        _RUNNING.set()
        _RELEASE.wait(30)


def test_a_batch_still_running_keeps_its_logged_blocks_whatever_checkpoint_done_says(sc, wal_on, tmp_path):
    _RUNNING.clear()
    _RELEASE.clear()
    ssc, clock = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc.receiverStream(rx)
    stream.foreachRDD(_hold_batch_2000)
    ssc.start()
    try:
        rx.storeAll(["a"])
        clock.advance(1)
        rx.storeAll(["b"])                               # stamped 1000: log-0-1000
        clock.set_time(2000)                             # batch 2000 takes b and blocks in its output
        assert _RUNNING.wait(30)
        clock.set_time(2001)
        rx.storeAll(["c"])                               # rolls to log-2001-3001
        stream._checkpoint_done(10 ** 9)                 # batch 2000 has not completed: b must stay
        assert sorted(os.listdir(stream.log_directory)) == ["log-0-1000", "log-2001-3001"]
        _RELEASE.set()
        clock.advance(0.999)                             # to 3000: batch 2000 completes, batch 3000 takes c
        stream._checkpoint_done(10 ** 9)
        assert sorted(os.listdir(stream.log_directory)) == ["log-2001-3001"]
    finally:
        _RELEASE.set()
        ssc.stop(stopSparkContext=False)


def test_a_pre_counted_block_counts_its_records_everywhere_and_across_recovery(sc, wal_on, tmp_path):
    """``storeAll(items, numRecords=n)``: the block holds ``items`` but stands for
    ``n`` records in its ref, the log, the batch's input info, the rate limit
    and the unprocessed count, also after the log is read back."""
    ssc1, clock1 = new_context(sc, tmp_path)
    rx = Handed()
    stream = ssc1.receiverStream(rx)
    out = collect(stream)
    reported: list = []

    class Counts(StreamingListener):
        def onBatchCompleted(self, e):
            reported.append((e.batchInfo().batchTime().milliseconds(), e.batchInfo().numRecords()))
    ssc1.addStreamingListener(Counts())
    ssc1.start()
    try:
        limiter = ssc1._receiver_tracker.supervisors[stream.id].limiter
        limiter.set_rate(10.0)
        limiter.reserve(10)                               # spends the burst allowance: waits show what was charged
        rx.storeAll([b"packed-3"], numRecords=3)
        assert limiter.reserve(1) == pytest.approx(0.3)   # 3 permits taken at 10/s (on the manual clock)
        limiter.set_rate(None)
        rx.storeAll(["x"])
        clock1.advance(1)
        assert out == [(1000, [[b"packed-3"], ["x"]])]
        assert [r.records for r in stream._batches[1000]] == [3, 1]
        snapshot = checkpoint_copy(stream)
        rx.storeAll([b"packed-5"], numRecords=5)         # in no batch of the checkpoint
        assert stream._unprocessed_records() == 5         # batch 1000 completed
        with pytest.raises(ValueError, match="numRecords must be a non-negative int, got -1"):
            rx.storeAll(["y"], numRecords=-1)
        with pytest.raises(ValueError, match="timeout must be a non-negative number of seconds, got -1"):
            rx.storeAll(["y"], timeout=-1)
    finally:
        ssc1.stop(stopSparkContext=False)
    assert reported == [(1000, 4)]
    blocks, _ = BlockLog(stream.log_directory, 1000, stream._run_id).scan()
    assert [(ref.records, records) for ref, records in blocks] == [(3, [b"packed-3"]), (1, ["x"]), (5, [b"packed-5"])]

    ssc2, _ = new_context(sc, tmp_path, start_ms=1000)
    restored = restore(snapshot, ssc2)
    assert [r.records for r, _ in restored._recovered] == [5]
    assert restored._compute(1000).glom().collect() == [[b"packed-3"], ["x"]]
    assert ssc2._input_info.take(1000)[restored.id].numRecords() == 4


# ------------------------------------------------ group commit of the log writes
class _GatedLog:
    """A real BlockLog whose first write waits at a gate, so other producers
    arrive while a block is being written; ``writes`` lists each write's
    (sequence number, records)."""

    def __init__(self, directory: str) -> None:
        self.log = BlockLog(directory, 60_000, uuid.uuid4().hex)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.writes: list[tuple[int, list]] = []
        self.calls = 0
        self.failures: dict[int, OSError] = {}   # call number -> the error that call raises

    def persist(self, seq: int, records: list, count: int):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if self.calls in self.failures:
            raise self.failures[self.calls]
        ref = self.log.write(seq, records, 0, count)
        self.writes.append((seq, list(records)))
        return ref


def _producer(blocks, items, results):
    def run():
        try:
            blocks.add_block(items)
            results[items[0]] = "stored"
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[items[0]] = exc
    t = threading.Thread(target=run)
    t.start()
    return t


def _group_commit_setup(tmp_path):
    from fluvial.streaming.rate import RateLimiter
    from fluvial.streaming.sources.supervisor import BlockGenerator
    log = _GatedLog(str(tmp_path / "wal"))
    blocks = BlockGenerator(0, 3_600_000, 100, RateLimiter(None), persist=log.persist)
    blocks.start()
    return log, blocks


def _wait_arrivals(blocks, n):
    from support import wait_until
    wait_until(lambda: len(blocks._arrived) == n, f"{n} producers waiting for the log")


def test_blocks_arriving_during_a_log_write_share_the_next_write(tmp_path):
    log, blocks = _group_commit_setup(tmp_path)
    results: dict = {}
    try:
        first = _producer(blocks, ["a1", "a2"], results)
        assert log.entered.wait(10)
        second = _producer(blocks, ["b1"], results)
        _wait_arrivals(blocks, 1)
        third = _producer(blocks, ["c1", "c2", "c3"], results)
        _wait_arrivals(blocks, 2)
        assert results == {}                                   # nobody returns before its block is on disk
        log.gate.set()
        for t in (first, second, third):
            t.join(10)
        assert results == {"a1": "stored", "b1": "stored", "c1": "stored"}
        assert log.writes == [(0, ["a1", "a2"]), (1, ["b1", "c1", "c2", "c3"])]
        taken = blocks.take_blocks(1000)
        assert [(ref.seq, ref.records, records) for ref, records in taken] == [
            (0, 2, ["a1", "a2"]), (1, 4, ["b1", "c1", "c2", "c3"])]
        assert [log.log.read(ref) for ref, _ in taken] == [["a1", "a2"], ["b1", "c1", "c2", "c3"]]
    finally:
        log.gate.set()
        blocks.stop()


def test_a_failed_shared_log_write_fails_every_producer_of_it_and_stores_none_of_their_records(tmp_path):
    log, blocks = _group_commit_setup(tmp_path)
    log.failures[2] = OSError(28, "No space left on device")
    results: dict = {}
    try:
        first = _producer(blocks, ["a"], results)
        assert log.entered.wait(10)
        others = [_producer(blocks, ["b"], results)]
        _wait_arrivals(blocks, 1)
        others.append(_producer(blocks, ["c"], results))
        _wait_arrivals(blocks, 2)
        log.gate.set()
        for t in [first, *others]:
            t.join(10)
        assert results["a"] == "stored"
        assert all(isinstance(results[k], OSError) and results[k].errno == 28 for k in "bc")
        assert log.writes == [(0, ["a"])]
        blocks.add_block(["d"])                                 # the next write works, numbered next
        assert [(ref.seq, records) for ref, records in blocks.take_blocks(1000)] == [(0, ["a"]), (1, ["d"])]
    finally:
        log.gate.set()
        blocks.stop()
