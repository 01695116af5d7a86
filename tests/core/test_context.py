"""SparkContext: job groups, tags, cancellation, status, shipped files,
configuration and argument checking."""
from __future__ import annotations

import os
import threading
import time
import zipfile

import pytest

from fluvial.core import JobCancelledError, SparkFiles


def run_in_thread(fn):
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            box["error"] = exc
    t = threading.Thread(target=target)
    t.start()
    return t, box


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def slow_job(sc, group=None, tag=None):
    def job():
        if group:
            sc.setJobGroup(group, "slow job")
        if tag:
            sc.addJobTag(tag)
        return sc.parallelize(range(60), 60).map(lambda x: time.sleep(0.05) or x).collect()
    return job


@pytest.mark.parametrize("how", ["group", "tag", "all"])
def test_cancel_stops_a_running_job(sc, how):
    t, box = run_in_thread(slow_job(sc, group="g-" + how, tag="t-" + how))
    tracker = sc.statusTracker()
    wait_for(lambda: tracker.getJobIdsForGroup("g-" + how) and tracker.getActiveJobsIds())
    {"group": lambda: sc.cancelJobGroup("g-" + how), "tag": lambda: sc.cancelJobsWithTag("t-" + how),
     "all": sc.cancelAllJobs}[how]()
    t.join(10)
    assert not t.is_alive()
    assert isinstance(box.get("error"), JobCancelledError), box
    [job_id] = tracker.getJobIdsForGroup("g-" + how)
    assert tracker.getJobInfo(job_id).status == "FAILED"
    assert sc.parallelize(range(5)).count() == 5


def test_job_groups_and_status_tracker(sc):
    tracker = sc.statusTracker()
    sc.setJobGroup("grp-status", "counting", interruptOnCancel=True)
    try:
        assert sc.getLocalProperty("spark.jobGroup.id") == "grp-status"
        assert sc.getLocalProperty("spark.job.interruptOnCancel") == "true"
        sc.parallelize([(1, 1), (2, 2)], 2).reduceByKey(lambda a, b: a + b).count()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    [job_id] = tracker.getJobIdsForGroup("grp-status")
    info = tracker.getJobInfo(job_id)
    assert info.status == "SUCCEEDED" and len(info.stageIds) == 2
    stage = tracker.getStageInfo(info.stageIds[-1])
    assert stage.numTasks == 2 and stage.numCompletedTasks == 2 and stage.numActiveTasks == 0
    assert tracker.getActiveJobsIds() == [] and tracker.getActiveStageIds() == []
    assert tracker.getJobInfo(10 ** 9) is None and tracker.getStageInfo(10 ** 9) is None
    infos = tracker.getExecutorInfos()
    assert infos[0].host == "localhost" and len(infos) in (1, 3)


def test_job_properties_are_per_thread(sc):
    sc.setJobDescription("main thread")
    seen = {}
    t = threading.Thread(target=lambda: seen.update(d=sc.getLocalProperty("spark.job.description")))
    t.start()
    t.join()
    assert seen == {"d": None} and sc.getLocalProperty("spark.job.description") == "main thread"
    sc.setLocalProperty("spark.job.description", None)


def test_job_tags(sc):
    sc.addJobTag("a")
    sc.addJobTag("b")
    assert sc.getJobTags() == {"a", "b"}
    sc.removeJobTag("a")
    assert sc.getJobTags() == {"b"}
    sc.clearJobTags()
    assert sc.getJobTags() == set()
    with pytest.raises(ValueError, match="','.*'x,y'"):
        sc.addJobTag("x,y")
    with pytest.raises(ValueError, match="empty"):
        sc.addJobTag("")


def test_add_file_is_readable_in_tasks(sc, tmp_path):
    src = tmp_path / "lookup.txt"
    src.write_text("42")
    sc.addFile(str(src))
    sc.addFile(str(src))  # same path again: no-op
    assert f"file:{src}" in sc.listFiles
    assert sc.parallelize([1, 2], 2).map(lambda _: open(SparkFiles.get("lookup.txt")).read()).collect() == ["42"] * 2
    other = tmp_path / "other"
    other.mkdir()
    (other / "lookup.txt").write_text("x")
    with pytest.raises(ValueError, match="already registered"):
        sc.addFile(str(other / "lookup.txt"))
    with pytest.raises(ValueError, match="recursive"):
        sc.addFile(str(other))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        sc.addFile(str(tmp_path / "missing.txt"))


def test_add_py_file_makes_modules_importable_in_tasks(sc, tmp_path):
    mod = tmp_path / f"fluvial_shipped_{os.getpid()}_{id(sc)}.py"
    mod.write_text("def triple(x):\n    return 3 * x\n")
    sc.addPyFile(str(mod))
    name = mod.stem
    assert sc.parallelize([1, 2], 2).map(lambda x: __import__(name).triple(x)).collect() == [3, 6]
    pkg = tmp_path / f"zipped_{os.getpid()}_{id(sc)}.zip"
    with zipfile.ZipFile(pkg, "w") as z:
        z.writestr(f"zipmod_{id(sc)}.py", "VALUE = 'from zip'\n")
    sc.addPyFile(str(pkg))
    modname = f"zipmod_{id(sc)}"
    assert sc.parallelize([0], 1).map(lambda _: __import__(modname).VALUE).collect() == ["from zip"]


def test_add_archive_unpacks_for_tasks(sc, tmp_path):
    arc = tmp_path / "bundle.zip"
    with zipfile.ZipFile(arc, "w") as z:
        z.writestr("data/x.txt", "inside")
    sc.addArchive(str(arc))
    assert sc.listArchives == [f"file:{arc}"]
    read = sc.parallelize([0], 1).map(lambda _: open(os.path.join(SparkFiles.get("bundle.zip"), "data/x.txt")).read())
    assert read.collect() == ["inside"]
    (tmp_path / "notes.txt").write_text("n")
    with pytest.raises(ValueError, match="not a supported archive"):
        sc.addArchive(str(tmp_path / "notes.txt"))


def test_context_properties_and_conf(sc):
    assert sc.startTime <= int(time.time() * 1000) and sc.applicationId == f"local-{sc.startTime}"
    assert sc.defaultParallelism == 2 and sc.defaultMinPartitions == 2
    assert sc.version and sc.uiWebUrl is None and sc.resources == {}
    conf = sc.getConf()
    conf.set("spark.x", "1")
    assert sc.getConf().get("spark.x") is None
    assert sc.sparkUser()
    with pytest.raises(ValueError, match="logLevel.*'LOUD'"):
        sc.setLogLevel("LOUD")
    sc.setLogLevel("warn")
    with pytest.raises(ValueError, match="at least one RDD"):
        sc.union([])
