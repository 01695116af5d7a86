"""Receiver lifecycle on the driver: restarts, stops, errors, listener events,
threads, configuration checks. Each test has its own in-process context (the
receiver runs in the driver whatever the executor)."""
from __future__ import annotations

import logging
import threading

import pytest

from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.sources.receiver import Receiver, ReceiverStoppedError
from fluvial.testing import ListSink, ManualClock

from support import make_context, wait_until


@pytest.fixture
def new_sc():
    made = []

    def make(**conf: str):
        conf.setdefault("spark.streaming.receiverRestartDelay", "10ms")
        sc = make_context("inprocess", **conf)
        made.append(sc)
        return sc
    yield make
    for sc in made:
        sc.stop()



def fluvial_threads() -> set[str]:
    return {t.name for t in threading.enumerate()
            if t.name.startswith(("fluvial-block-generator", "fluvial-receiver-restart", "test-rx"))}


class Events(StreamingListener):
    def __init__(self) -> None:
        self.log: list[tuple[str, bool, str, str]] = []

    def _add(self, kind, e):
        i = e.receiverInfo()
        self.log.append((kind, i.active(), i.lastErrorMessage(), i.lastError()))

    def onReceiverStarted(self, e):
        self._add("started", e)

    def onReceiverError(self, e):
        self._add("error", e)

    def onReceiverStopped(self, e):
        self._add("stopped", e)

    def kinds(self) -> list[str]:
        return [k for k, *_ in self.log]


class Loop(Receiver):
    """A thread per start that stores ``step()`` results until stopped."""

    def __init__(self, step=None) -> None:
        super().__init__()
        self.step = step
        self.starts = 0
        self.stops = 0
        self.started = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def onStart(self) -> None:
        self.starts += 1
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._halt,), daemon=True, name="test-rx")
        self._thread.start()
        self.started.set()

    def onStop(self) -> None:
        self.stops += 1
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self, halt: threading.Event) -> None:
        while not halt.is_set():
            if self.step is None:
                halt.wait()
                return
            if self.step(self) is False:
                return


def test_restarts_and_stop_leave_no_threads_behind(new_sc):
    before = fluvial_threads()
    ssc = StreamingContext(new_sc(), 1, clock=ManualClock())
    rec = Loop()
    ListSink(ssc.receiverStream(rec))
    ssc.start()
    for n in range(2, 5):
        rec.restart("test restart", millisecond=0)
        wait_until(lambda: rec.starts == n, "restart")
    ssc.stop(stopSparkContext=False)
    assert rec.stops == rec.starts == 4
    assert fluvial_threads() == before


def test_restart_without_error_posts_stopped_then_started(new_sc):
    ssc = StreamingContext(new_sc(), 1, clock=ManualClock())
    rec = Loop()
    events = Events()
    ssc.addStreamingListener(events)
    ListSink(ssc.receiverStream(rec))
    ssc.start()
    rec.restart("reconnecting", millisecond=0)
    wait_until(lambda: rec.starts == 2 and rec.isStarted(), "restart")
    ssc.stop(stopSparkContext=False)
    assert events.kinds() == ["started", "stopped", "started", "stopped"]
    assert events.log[1][:3] == ("stopped", False, "Restarting receiver with delay 0ms: reconnecting")
    assert events.log[3][2] == "Stopped by driver"


def test_concurrent_restart_requests_restart_once_and_report_every_error(new_sc):
    ssc = StreamingContext(new_sc(**{"spark.streaming.receiverRestartDelay": "200ms"}), 1, clock=ManualClock())
    rec = Loop()
    events = Events()
    ssc.addStreamingListener(events)
    ListSink(ssc.receiverStream(rec))
    ssc.start()
    gate = threading.Barrier(4)

    def ask(i: int) -> None:
        gate.wait()
        rec.restart(f"failure {i}", RuntimeError(f"boom {i}"))
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: rec.starts == 2, "restart")
    ssc.stop(stopSparkContext=False)
    assert rec.starts == 2
    errors = [e for e in events.log if e[0] == "error"]
    assert len(errors) == 4
    assert all("RuntimeError: boom" in e[3] for e in errors)


def test_receiver_stopping_itself_is_not_restarted_and_its_records_are_processed(new_sc):
    clock = ManualClock()
    ssc = StreamingContext(new_sc(), 1, clock=clock)
    refused: list[BaseException] = []

    def step(rx: Loop):
        for i in range(3):
            rx.store(i)
        rx.stop("source exhausted")
        try:
            rx.store(99)
        except ReceiverStoppedError as exc:
            refused.append(exc)
        return False
    rec = Loop(step)
    sink = ListSink(ssc.receiverStream(rec))
    ssc.start()
    wait_until(lambda: refused, "the receiver to stop itself")
    clock.advance(1)
    ssc.stop(stopSparkContext=False)
    assert sink.batches == [[0, 1, 2]]
    assert rec.starts == 1 and rec.isStopped()
    assert "not running" in str(refused[0])


def test_report_error_keeps_the_receiver_running(new_sc):
    clock = ManualClock()
    ssc = StreamingContext(new_sc(), 1, clock=clock)
    rec = Loop()
    events = Events()
    ssc.addStreamingListener(events)
    sink = ListSink(ssc.receiverStream(rec))
    ssc.start()
    rec.reportError("parse failure in record 7", ValueError("bad field"))
    rec.store("still running")
    clock.advance(1)
    ssc.stop(stopSparkContext=False)
    assert sink.batches == [["still running"]]
    assert events.log[1][:3] == ("error", True, "parse failure in record 7")
    assert "ValueError: bad field" in events.log[1][3]
    assert rec.starts == 1


def test_stop_without_grace_reports_how_many_stored_records_it_discards(new_sc, caplog):
    ssc = StreamingContext(new_sc(), 1, clock=ManualClock())
    rec = Loop()
    ListSink(ssc.receiverStream(rec))
    ssc.start()
    rec.storeAll(range(5))
    rec.store("x")
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        ssc.stop(stopSparkContext=False)
    assert any("6 records stored by Loop were not processed" in r.getMessage() for r in caplog.records)
    with pytest.raises(ReceiverStoppedError):
        rec.store("late")


def test_store_outside_a_running_context_is_an_error(new_sc):
    rec = Loop()
    with pytest.raises(RuntimeError, match="not attached to a running StreamingContext"):
        rec.store(1)
    ssc = StreamingContext(new_sc(), 1, clock=ManualClock())
    ssc.receiverStream(rec)
    with pytest.raises(ValueError, match="already feeds input stream"):
        ssc.receiverStream(rec)
    with pytest.raises(TypeError, match="takes a fluvial Receiver"):
        ssc.receiverStream(object())


def test_receiver_without_on_start_is_reported_as_failing_to_start(new_sc):
    ssc = StreamingContext(new_sc(**{"spark.streaming.receiverRestartDelay": "1h"}), 1, clock=ManualClock())
    events = Events()
    ssc.addStreamingListener(events)
    ListSink(ssc.receiverStream(Receiver()))
    ssc.start()
    ssc.stop(stopSparkContext=False)
    assert events.kinds()[:3] == ["started", "error", "stopped"]
    assert "must override onStart()" in events.log[1][2]


@pytest.mark.parametrize("key,value,message", [
    ("spark.streaming.blockInterval", "0", "blockInterval must be positive"),
    ("spark.streaming.blockQueueSize", "0", "blockQueueSize must be at least 1"),
    ("spark.streaming.receiverRestartDelay", "-5", "receiverRestartDelay must be >= 0"),
])
def test_bad_receiver_settings_fail_start_with_the_key(new_sc, key, value, message):
    ssc = StreamingContext(new_sc(**{key: value}), 1, clock=ManualClock())
    ListSink(ssc.receiverStream(Loop()))
    with pytest.raises(ValueError, match=message):
        ssc.start()


def test_bad_initial_rate_fails_start(new_sc):
    sc = new_sc(**{"spark.streaming.backpressure.enabled": "true",
                   "spark.streaming.backpressure.initialRate": "-1"})
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    ListSink(ssc.receiverStream(Loop()))
    with pytest.raises(ValueError, match="initialRate must be a positive"):
        ssc.start()


class StopsDuringItsRestart(Receiver):
    """Its thread asks for a restart, then stops the receiver while the restart
    is inside onStop waiting for that same thread."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.in_on_stop = threading.Event()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None

    def onStart(self) -> None:
        self.starts += 1
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-rx")
        self._thread.start()

    def _run(self) -> None:
        self.restart("first failure", millisecond=0)
        self.in_on_stop.wait(10)
        self.stop("giving up")
        self.finished.set()

    def onStop(self) -> None:
        self.in_on_stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def test_receiver_stopping_itself_during_its_restart_does_not_deadlock(new_sc):
    ssc = StreamingContext(new_sc(), 1, clock=ManualClock())
    rec = StopsDuringItsRestart()
    ListSink(ssc.receiverStream(rec))
    ssc.start()
    assert rec.finished.wait(10)
    wait_until(lambda: not any(t.name.startswith("fluvial-receiver-") for t in threading.enumerate()),
               "restart and stop threads to finish")
    ssc.stop(stopSparkContext=False)
    assert rec.starts == 1 and rec.isStopped()
