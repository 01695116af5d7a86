"""StreamingContext: batch-time alignment, the active context, union and
transform across streams, queueStream's modes, remember, graceful stop (queue
source and a custom Receiver) and stop() called from inside an output
operation."""
from __future__ import annotations

import sys
import threading

import pytest

from fluvial.streaming import Receiver, StreamingContext, StreamingListener, scheduler
from fluvial.testing import ListSink, ManualClock, queue_source, run_stream


@pytest.fixture
def ssc_factory(sc):
    made = []

    def make(batch=1, start_ms=0):
        clock = ManualClock(start_ms)
        ssc = StreamingContext(sc, batch, clock=clock)
        made.append(ssc)
        return ssc, clock
    yield make
    for ssc in made:
        ssc.stop(stopSparkContext=False)


@pytest.mark.parametrize("batch,start_ms,first", [(1, 0, 1000), (1, 1234, 2000), (0.5, 1234, 1500),
                                                  (2, 4000, 6000), (0.25, 999, 1000)])
def test_batch_times_are_aligned_to_the_batch_duration(ssc_factory, batch, start_ms, first):
    ssc, clock = ssc_factory(batch, start_ms)
    sink = ListSink(queue_source(ssc, [[1], [2], [3]]))
    ssc.start()
    clock.advance((first - start_ms) / 1000 + 2 * batch)
    step = int(batch * 1000)
    assert sink.times == [first, first + step, first + 2 * step]
    assert sink.batches == [[1], [2], [3]]


def test_get_active_and_get_active_or_create(ssc_factory, sc):
    ssc, clock = ssc_factory()
    queue_source(ssc, []).foreachRDD(lambda rdd: None)
    assert StreamingContext.getActive() is None
    ssc.start()
    assert StreamingContext.getActive() is ssc
    assert StreamingContext.getActiveOrCreate(None, lambda: pytest.fail("must not be called")) is ssc
    with pytest.raises(TypeError, match="setupFunc should be callable"):
        StreamingContext.getActiveOrCreate(None, 3)
    ssc.stop(stopSparkContext=False)
    assert StreamingContext.getActive() is None
    assert ssc.sparkContext is sc and ssc.getState() == "STOPPED"


def test_get_or_create_builds_with_setup_and_sets_the_checkpoint(sc, tmp_path):
    made = []

    def setup():
        made.append(StreamingContext(sc, 1, clock=ManualClock()))
        return made[-1]
    ssc = StreamingContext.getOrCreate(str(tmp_path / "cp"), setup)
    try:
        assert ssc is made[0] and ssc._checkpoint_dir == str(tmp_path / "cp")
        assert (tmp_path / "cp").is_dir()
    finally:
        ssc.stop(stopSparkContext=False)


def test_stop_before_start_marks_the_context_stopped(ssc_factory, caplog):
    ssc, _ = ssc_factory()
    ssc.stop(stopSparkContext=False)
    assert ssc.getState() == "STOPPED"
    assert "StreamingContext has not been started yet" in caplog.text
    ssc.stop(stopSparkContext=False)          # harmless
    assert ssc.awaitTerminationOrTimeout(0) is True


def test_union_of_streams_with_different_slides_is_refused(ssc_factory):
    ssc, _ = ssc_factory()
    a, b = queue_source(ssc, []), queue_source(ssc, [])
    w = b.window(2, 2)
    with pytest.raises(ValueError, match="the two DStream should have same slide duration"):
        a.union(w)
    with pytest.raises(ValueError, match="All DStreams should have same slide duration"):
        ssc.union(a, w)
    with pytest.raises(ValueError, match="Some of the DStreams have different slide durations"):
        ssc.transform([a, w], lambda rdds: rdds[0])
    with pytest.raises(ValueError, match="should have at least one DStream to union"):
        ssc.union()
    assert ssc.union(a) is a


def test_transform_with_slides_like_self_and_sees_empty_rdds_for_the_other(sc):
    got = run_stream(sc, [[[1], [2], [3], [4]], [["a"], ["b"], ["c"], ["d"]]],
                     lambda a, b: b.window(2, 2).transformWith(lambda x, y: x.union(y), a))
    # a is computed only when the output needs it (every 2 s), so its queue
    # yields one RDD per 2 s, as in Spark, where input streams are lazy too.
    assert got == [["a", "b", 1], ["c", "d", 2]]


def test_transform_with_from_a_faster_stream_pairs_with_an_empty_rdd(sc):
    got = run_stream(sc, [[[1], [2], [3], [4]], [["a"], ["b"], ["c"], ["d"]]],
                     lambda a, b: a.transformWith(lambda x, y: x.union(y), b.window(2, 2)))
    assert got == [[1], [2, "a", "b"], [3], [4, "c", "d"]]


def test_queue_stream_modes(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    rdds = [[1], [2, 3]]
    one = ListSink(ssc.queueStream(rdds))
    all_at_once = ListSink(ssc.queueStream([sc.parallelize([1]), sc.parallelize([2])], oneAtATime=False))
    with_default = ListSink(ssc.queueStream([[1]], default=sc.parallelize(["d"])))
    empty_then_default = ListSink(ssc.queueStream([], default=["d"]))
    rdds.append([4])                           # not seen: the queue was copied
    ssc.start()
    ssc.clock.advance(3)
    ssc.stop(stopSparkContext=False)
    assert one.batches == [[1], [2, 3], []]
    assert all_at_once.batches == [[1, 2], [], []]
    assert with_default.batches == [[1], ["d"], ["d"]]
    assert empty_then_default.batches == [[], ["d"], ["d"]]


def test_remember_keeps_rdds_for_slice(ssc_factory):
    ssc, clock = ssc_factory()
    ssc.remember(3)
    s = queue_source(ssc, [[1], [2], [3], [4], [5]]).map(lambda x: x * 2)
    ListSink(s)
    ssc.start()
    clock.advance(5)
    assert sorted(s._generated) == [3000, 4000, 5000]
    assert [r.collect() for r in s.slice(3, 5)] == [[6], [8], [10]]


# ------------------------------------------------------------------ stopping
class ListReceiver(Receiver):
    """Stores one block with storeAll and then single records with store."""

    def __init__(self, block, singles):
        super().__init__()
        self.block, self.singles = block, singles

    def onStart(self):
        self.storeAll(self.block)
        for x in self.singles:
            self.store(x)


def test_graceful_stop_processes_everything_already_received(ssc_factory):
    ssc, clock = ssc_factory()
    src = queue_source(ssc, [[1], [2], [3]])
    received = ssc.receiverStream(ListReceiver(["a", "b"], ["c", "d", "e"]))
    queued, got = ListSink(src), ListSink(received)
    ssc.start()
    clock.advance(1)
    ssc.stop(stopSparkContext=False, stopGraceFully=True)
    assert ssc.getState() == "STOPPED"
    assert queued.records == [1, 2, 3]
    assert sorted(got.records) == ["a", "b", "c", "d", "e"]


def test_stop_without_grace_drops_batches_not_generated(ssc_factory):
    ssc, clock = ssc_factory()
    queued = ListSink(queue_source(ssc, [[1], [2], [3]]))
    ssc.start()
    clock.advance(1)
    ssc.stop(stopSparkContext=False)
    assert queued.batches == [[1]]


def test_stop_without_grace_goes_on_without_a_job_stuck_in_an_output_operation(ssc_factory, monkeypatch):
    monkeypatch.setattr(scheduler, "RUNNING_JOB_WAIT", 0.1)
    ssc, clock = ssc_factory()
    entered, release = threading.Event(), threading.Event()
    completed = []

    class Completions(StreamingListener):
        def onBatchCompleted(self, batchCompleted):
            completed.append(batchCompleted.batchInfo().batchTime)

    def stuck(rdd):
        entered.set()
        release.wait(30)
        raise ValueError("failed after the stop went on")
    queue_source(ssc, [[1], [2]]).foreachRDD(stuck)
    ssc.addStreamingListener(Completions())
    ssc.start()
    clock.set_time(1000)                  # batch 1 is due: its job starts and blocks
    assert entered.wait(10)
    ssc.stop(stopSparkContext=False)      # returns although the job has not
    assert ssc.getState() == "STOPPED"
    release.set()
    ssc._scheduler._job_thread.join(10)
    assert not ssc._scheduler._job_thread.is_alive()
    assert completed == []
    ssc.awaitTermination()                # the abandoned job's failure is not the context's


@pytest.mark.parametrize("graceful", [False, True])
def test_stop_from_inside_foreach_rdd_does_not_deadlock(ssc_factory, graceful):
    ssc, clock = ssc_factory()
    seen = []
    returned = threading.Event()

    def out(rdd):
        seen.append(rdd.collect())
        if seen[-1] == [2]:
            ssc.stop(stopSparkContext=False, stopGraceFully=graceful)
            returned.set()
    queue_source(ssc, [[1], [2], [3], [4]]).foreachRDD(out)
    ssc.start()
    clock.advance(2)
    assert ssc.awaitTerminationOrTimeout(10) is True
    assert returned.is_set() and ssc.getState() == "STOPPED"
    clock.advance(2)
    if graceful:
        assert seen == [[1], [2], [3], [4]]      # the queued RDDs were received data
    else:
        assert seen == [[1], [2]]


def test_start_has_workers_import_the_engine_before_the_first_batch(ssc_factory, sc):
    # the first batch's tasks would otherwise pay for the imports; a module no
    # task of this stream needs (the driver's StreamingContext) shows the preload
    if not sc._executor.worker_pids:
        pytest.skip("tasks run in the driver, which has every module")
    ssc, clock = ssc_factory()
    seen = []

    def modules(rdd):
        seen.extend(rdd.mapPartitions(lambda _: [sorted(m for m in sys.modules if m.startswith("fluvial."))])
                    .collect())
    queue_source(ssc, [[1, 2, 3, 4]]).foreachRDD(modules)
    ssc.start()
    clock.advance(1)
    assert len(seen) == 2 and all("fluvial.streaming.context" in loaded for loaded in seen)
