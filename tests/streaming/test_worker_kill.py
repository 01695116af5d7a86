"""A worker process SIGKILLed in the middle of a batch: the task it ran is
retried on a fresh worker, the state and window blocks it kept are recomputed
from lineage, and the stream's output is exactly that of a run without the
kill."""
from __future__ import annotations

import os
import signal
from collections import Counter
from operator import add, sub

import pytest

from fluvial.testing import run_stream
from support import make_context

BATCHES = [["a", "b", "a"], ["b", "c"], ["a"], ["c", "boom", "a", "b"], [], ["b", "a"], ["c"]]


@pytest.fixture(scope="module")
def sc():
    context = make_context("processes", cores=2)
    yield context
    context.stop()


def running_count(values, state):
    return (state or 0) + sum(values)


def kill_own_worker_once(victim: str, marker: str, driver_pid: int):
    """A map function that, the first time it meets ``victim``, records its
    pid in ``marker`` and SIGKILLs its own (worker) process."""
    def passthrough(word):
        if word == victim and not os.path.exists(marker) and os.getpid() != driver_pid:
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return word
    return passthrough


def counts_and_windows(sc, tmp_path, name: str, marker: str):
    def build(words):
        pairs = words.map(kill_own_worker_once("boom", marker, os.getpid())).map(lambda w: (w, 1))
        return [pairs.updateStateByKey(running_count),
                pairs.reduceByKeyAndWindow(add, sub, 3, 1)]
    return run_stream(sc, [BATCHES], build, checkpoint=str(tmp_path / name))


def test_worker_killed_mid_batch_changes_nothing_in_the_output(sc, tmp_path):
    never = tmp_path / "never-kill"
    never.write_text("")
    expected = counts_and_windows(sc, tmp_path, "plain", str(never))
    assert dict(expected[0][-1]) == Counter(w for b in BATCHES for w in b)

    workers_before = set(sc._executor.worker_pids)
    marker = tmp_path / "killed-pid"
    got = counts_and_windows(sc, tmp_path, "killed", str(marker))
    killed = int(marker.read_text())
    assert killed in workers_before and killed not in sc._executor.worker_pids
    assert got == expected


def test_worker_killed_in_the_state_stage_recomputes_the_state_it_kept(sc, tmp_path):
    """The kill comes in the update function of batch 4 (armed by the map
    function meeting "boom"), inside the stage that reads the state blocks the
    dying worker keeps; with 8 state partitions, tasks reading its other blocks
    are queued behind the dying one. They are planned again, the lost state is
    recomputed from lineage, and the output is unchanged."""
    driver_pid = os.getpid()

    def run(name):
        armed, killed = str(tmp_path / f"{name}-armed"), str(tmp_path / f"{name}-killed-pid")

        def arm(word):
            if word == "boom":
                open(armed, "w").close()
            return (word, 1)

        def update(values, state):
            if name == "killed" and os.path.exists(armed) and not os.path.exists(killed) \
                    and os.getpid() != driver_pid:
                with open(killed, "w") as f:
                    f.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return (state or 0) + sum(values)
        got = run_stream(sc, [BATCHES], lambda words: words.map(arm).updateStateByKey(update, numPartitions=8),
                         checkpoint=str(tmp_path / name))
        return got, killed

    expected, _ = run("plain")
    workers_before = set(sc._executor.worker_pids)
    got, killed = run("killed")
    assert int(open(killed).read()) in workers_before
    assert got == expected
    assert dict(got[-1]) == Counter(w for b in BATCHES for w in b)
