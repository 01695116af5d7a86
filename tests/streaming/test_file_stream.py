"""textFileStream / binaryRecordsStream on real files in temporary directories,
driven by a ManualClock with file modification times set to clock times (as
Spark's own tests do), on both executors."""
from __future__ import annotations

import gzip
import logging
import os

import pytest

from fluvial.streaming import BatchFailedError, StreamingContext, StreamingListener
from fluvial.streaming.sources.files import FileInputDStream, count_lines
from fluvial.testing import ListSink, ManualClock

from support import EXECUTORS, make_context


START = 100_000  # clock time (ms) when each test's context is created


@pytest.fixture(scope="module", params=EXECUTORS)
def fsc(request: pytest.FixtureRequest):
    context = make_context(request.param, **{"spark.streaming.fileStream.minRememberDuration": "3s"})
    yield context
    context.stop()


def put(directory, name: str, data: bytes, mtime_ms: int) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    return path


class Inputs(StreamingListener):
    def __init__(self) -> None:
        self.batches: list[tuple[int, dict]] = []

    def onBatchCompleted(self, e):
        info = e.batchInfo()
        self.batches.append((info.numRecords(), {k: v.metadata() for k, v in info.streamIdToInputInfo().items()}))


def test_new_files_land_in_the_batch_covering_their_modification_time(fsc, tmp_path):
    put(tmp_path, "before-start.txt", b"old\n", START - 1000)
    put(tmp_path, "at-start.txt", b"old\n", START)
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    stream = ssc.textFileStream(str(tmp_path))
    sink = ListSink(stream)
    inputs = Inputs()
    ssc.addStreamingListener(inputs)
    ssc.start()
    try:
        a = put(tmp_path, "a.txt", b"1\n2\n", START + 500)
        put(tmp_path, ".a.txt.swp", b"hidden\n", START + 500)
        put(tmp_path, "_COPYING_", b"hidden\n", START + 500)
        os.mkdir(tmp_path / "sub")
        put(tmp_path / "sub", "nested.txt", b"nested\n", START + 500)
        clock.advance(1)                                         # batch START+1000
        put(tmp_path, "b.txt", b"3", START + 1000)               # exactly at the batch time: next batch
        put(tmp_path, "c.txt", b"4\r\n5\n", START + 2500)        # newer than batch START+2000
        clock.advance(1)
        put(tmp_path, "a.txt", b"rewritten\n", START + 2800)     # already selected in the window
        clock.advance(1)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [["1", "2"], ["3"], ["4", "5"], []]
    assert [n for n, _ in inputs.batches] == [2, 1, 2, 0]
    meta = inputs.batches[0][1][stream.id]
    assert meta["files"] == ["file:" + a] and meta["Description"] == "file:" + a


def test_files_outside_the_remember_window_are_ignored(fsc, tmp_path):
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    stream = ssc.textFileStream(str(tmp_path))
    sink = ListSink(stream)
    ssc.start()
    try:
        clock.advance(5)                                         # batches up to START+5000
        put(tmp_path, "late.txt", b"moved in with an old mtime\n", START + 1500)   # <= 5000+1000-3000
        put(tmp_path, "fresh.txt", b"fresh\n", START + 4500)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert stream.remember_window_ms == 3000
    assert sink.batches[-1] == ["fresh"]
    assert all(b == [] for b in sink.batches[:-1])


def test_binary_records_in_modification_time_order(fsc, tmp_path):
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    stream = ssc.binaryRecordsStream(str(tmp_path), 4)
    sink = ListSink(stream)
    inputs = Inputs()
    ssc.addStreamingListener(inputs)
    ssc.start()
    try:
        put(tmp_path, "z-first", b"AAAABBBBCCCC", START + 100)
        put(tmp_path, "a-second", b"DDDDEEEE", START + 200)
        put(tmp_path, "empty", b"", START + 300)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [[b"AAAA", b"BBBB", b"CCCC", b"DDDD", b"EEEE"]]
    assert inputs.batches[0][0] == 5


def test_file_not_a_multiple_of_record_length_fails_the_batch_naming_it(fsc, tmp_path):
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    ListSink(ssc.binaryRecordsStream(str(tmp_path), 4))
    ssc.start()
    bad = put(tmp_path, "torn.bin", b"AAAABB", START + 100)
    clock.advance(1)
    with pytest.raises(BatchFailedError) as info:
        ssc.awaitTermination(10)
    ssc.stop(stopSparkContext=False)
    assert info.value.batch_time == START + 1000
    assert bad in str(info.value) and "not a multiple of recordLength=4" in str(info.value)


def test_undecodable_text_fails_the_batch_naming_file_and_offset(fsc, tmp_path):
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    ListSink(ssc.textFileStream(str(tmp_path)))
    ssc.start()
    bad = put(tmp_path, "latin1.txt", b"fine\ncaf\xe9\n", START + 100)
    clock.advance(1)
    with pytest.raises(BatchFailedError) as info:
        ssc.awaitTermination(10)
    ssc.stop(stopSparkContext=False)
    assert bad in str(info.value) and "byte offset 8" in str(info.value)


def test_missing_directory_gives_empty_batches_until_it_appears(fsc, tmp_path, caplog):
    watched = tmp_path / "not-yet"
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    sink = ListSink(ssc.textFileStream(str(watched)))
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        ssc.start()
        try:
            clock.advance(2)
            watched.mkdir()
            put(watched, "now.txt", b"here\n", START + 2500)
            clock.advance(1)
        finally:
            ssc.stop(stopSparkContext=False)
    assert sink.batches == [[], [], ["here"]]
    assert sum("No directory to scan" in r.getMessage() for r in caplog.records) == 1


def test_glob_directories_compressed_files_and_existing_files_when_not_new_only(fsc, tmp_path):
    (tmp_path / "logs-1").mkdir()
    (tmp_path / "logs-2").mkdir()
    (tmp_path / "other").mkdir()
    put(tmp_path / "logs-1", "existing.txt", b"was there\n", START - 500)
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    stream = FileInputDStream(ssc, str(tmp_path / "logs-*"), "text", newFilesOnly=False)
    sink = ListSink(stream)
    inputs = Inputs()
    ssc.addStreamingListener(inputs)
    ssc.start()
    try:
        put(tmp_path / "logs-2", "part.gz", gzip.compress(b"zipped 1\nzipped 2"), START + 600)
        put(tmp_path / "other", "ignored.txt", b"not watched\n", START + 600)
        clock.advance(1)
    finally:
        ssc.stop(stopSparkContext=False)
    assert sink.batches == [["was there", "zipped 1", "zipped 2"]]
    assert inputs.batches[0][0] == 3


@pytest.mark.parametrize("data,n", [(b"", 0), (b"\n", 1), (b"a", 1), (b"a\r\nb\rc\n", 3), (b"a\n\n", 2),
                                    (b"x\r", 1), (b"\r\n\r\n", 2)])
def test_line_count_matches_the_lines_read(tmp_path, data, n):
    path = put(tmp_path, "f.txt", data, START)
    assert count_lines(path) == n


def test_invalid_arguments_are_rejected(fsc, tmp_path):
    ssc = StreamingContext(fsc, 1, clock=ManualClock())
    with pytest.raises(ValueError, match="recordLength must be a positive integer"):
        ssc.binaryRecordsStream(str(tmp_path), 0)
    with pytest.raises(ValueError, match="directory must be a non-empty string"):
        ssc.textFileStream("")


def test_corrupt_compressed_file_fails_the_batch_naming_it(fsc, tmp_path):
    clock = ManualClock(START)
    ssc = StreamingContext(fsc, 1, clock=clock)
    ListSink(ssc.textFileStream(str(tmp_path)))
    ssc.start()
    bad = put(tmp_path, "broken.gz", b"this is not gzip data", START + 100)
    clock.advance(1)
    with pytest.raises(BatchFailedError) as info:
        ssc.awaitTermination(10)
    ssc.stop(stopSparkContext=False)
    assert bad in str(info.value) and "BadGzipFile" in str(info.value)
