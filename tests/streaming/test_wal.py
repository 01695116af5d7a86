"""The write-ahead log on real files (and on fsspec's in-memory store): a
write is on disk when it returns, segments roll on time, a torn last record
is ignored with a warning wherever the crash cut it, a damaged record in the
middle is an error naming the file and offset, cleaning removes only
segments wholly older than the threshold."""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluvial.streaming.wal import WALCorruptError, WALHandle, WriteAheadLog

HEADER = 16  # length, crc32, time


def segment_bytes(log_dir: str, name: str) -> bytes:
    with open(os.path.join(log_dir, name), "rb") as f:
        return f.read()


def test_a_written_record_is_in_the_segment_file_when_write_returns(tmp_path):
    wal = WriteAheadLog(str(tmp_path / "wal"))
    h = wal.write(b"first record", 1000)
    on_disk = segment_bytes(str(tmp_path / "wal"), h.segment)
    assert on_disk[h.offset + HEADER:] == b"first record"
    h2 = wal.write(b"second", 1500)
    assert (h2.segment, h2.offset) == (h.segment, HEADER + len(b"first record"))
    assert wal.read(h) == b"first record" and wal.read(h2) == b"second"
    # another reader (a restarted driver) sees both, in write order
    assert WriteAheadLog(str(tmp_path / "wal")).read_all() == [b"first record", b"second"]
    wal.close()


def test_segments_roll_once_a_record_is_past_the_rolling_interval(tmp_path):
    wal = WriteAheadLog(str(tmp_path), rolling_interval_ms=1000)
    handles = [wal.write(f"r{t}".encode(), t) for t in (0, 500, 1000, 1001, 1500, 5000)]
    assert [h.segment for h in handles] == ["log-0-1000"] * 3 + ["log-1001-2001"] * 2 + ["log-5000-6000"]
    assert wal.segments() == sorted(os.listdir(tmp_path), key=lambda n: int(n.split("-")[1]))
    assert wal.read_all() == [b"r0", b"r500", b"r1000", b"r1001", b"r1500", b"r5000"]
    wal.close()


def test_record_times_never_go_back_even_across_a_reopen(tmp_path):
    wal = WriteAheadLog(str(tmp_path), rolling_interval_ms=1000)
    assert wal.write(b"a", 5000).time_ms == 5000
    assert wal.write(b"b", 1000).time_ms == 5000        # a clock that went back is clamped
    wal.close()
    reopened = WriteAheadLog(str(tmp_path), rolling_interval_ms=1000)
    assert reopened.last_time_ms == 6000                 # the end of the newest segment
    h = reopened.write(b"c", 0)                          # a restarted ManualClock starts at 0
    assert h.time_ms == 6000 and h.segment == "log-6000-7000"
    assert reopened.read_all() == [b"a", b"b", b"c"]
    with pytest.raises(ValueError, match="rolling interval must be positive"):
        WriteAheadLog(str(tmp_path), rolling_interval_ms=0)


def three_records(log_dir: str) -> tuple[str, list[WALHandle]]:
    wal = WriteAheadLog(log_dir)
    handles = [wal.write(data, 10) for data in (b"alpha" * 3, b"bravo" * 5, b"charlie" * 4)]
    wal.close()
    return os.path.join(log_dir, handles[0].segment), handles


@pytest.mark.parametrize("cut", [1, HEADER - 1, HEADER, HEADER + 1, -1])
def test_a_torn_last_record_is_ignored_with_a_warning(tmp_path, caplog, cut):
    path, handles = three_records(str(tmp_path))
    last = handles[-1]
    keep = last.offset + (cut if cut > 0 else HEADER + last.length + cut)
    os.truncate(path, keep)
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        assert WriteAheadLog(str(tmp_path)).read_all() == [b"alpha" * 3, b"bravo" * 5]
    assert f"{path}: ignoring a torn last record at offset {last.offset}" in caplog.text
    with pytest.raises(WALCorruptError) as err:
        WriteAheadLog(str(tmp_path)).read(last)
    assert err.value.path == path and err.value.offset == last.offset


def test_a_zero_filled_tail_after_a_crash_is_a_torn_record(tmp_path, caplog):
    # some filesystems extend the file before its data reaches the disk
    path, _ = three_records(str(tmp_path))
    with open(path, "ab") as f:
        f.write(bytes(40))
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        assert len(WriteAheadLog(str(tmp_path)).read_all()) == 3
    assert "torn last record" in caplog.text


def test_reading_goes_on_in_the_segments_written_after_a_torn_one(tmp_path, caplog):
    path, handles = three_records(str(tmp_path))
    os.truncate(path, handles[-1].offset + 3)
    wal = WriteAheadLog(str(tmp_path))                  # the restarted writer starts a new segment
    wal.write(b"after restart", 0)
    with caplog.at_level(logging.WARNING, logger="fluvial.streaming"):
        assert wal.read_all() == [b"alpha" * 3, b"bravo" * 5, b"after restart"]
    assert "torn last record" in caplog.text


def test_a_damaged_record_in_the_middle_names_file_and_offset(tmp_path):
    path, handles = three_records(str(tmp_path))
    middle = handles[1]
    with open(path, "r+b") as f:
        f.seek(middle.offset + HEADER + 2)
        f.write(b"X")
    wal = WriteAheadLog(str(tmp_path))
    with pytest.raises(WALCorruptError, match=f"offset {middle.offset} of {path}.*checksum mismatch") as err:
        wal.read_all()
    assert (err.value.path, err.value.offset) == (path, middle.offset)
    with pytest.raises(WALCorruptError, match=f"offset {middle.offset} of {path}"):
        wal.read(middle)
    assert wal.read(handles[0]) == b"alpha" * 3 and wal.read(handles[2]) == b"charlie" * 4


def test_a_damaged_length_in_the_middle_is_corruption_not_a_torn_tail(tmp_path):
    path, handles = three_records(str(tmp_path))
    with open(path, "r+b") as f:
        f.seek(handles[1].offset)
        f.write((10 ** 6).to_bytes(4, "little"))     # claims more bytes than the file has
    with pytest.raises(WALCorruptError, match=f"offset {handles[1].offset} of {path}.*intact record after it"):
        WriteAheadLog(str(tmp_path)).read_all()


def test_a_handle_to_a_deleted_segment_names_the_file(tmp_path):
    wal = WriteAheadLog(str(tmp_path), rolling_interval_ms=1000)
    old = wal.write(b"old", 0)
    wal.write(b"new", 5000)
    assert wal.clean(2000) == [old.segment]
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / old.segment} is missing .*offset 0"):
        wal.read(old)


def test_clean_deletes_only_segments_wholly_older_than_the_threshold(tmp_path):
    wal = WriteAheadLog(str(tmp_path), rolling_interval_ms=1000)
    for t in (0, 900, 1500, 2500, 2600, 3100):
        wal.write(str(t).encode(), t)
    assert wal.segments() == ["log-0-1000", "log-1500-2500", "log-2600-3600"]
    assert wal.clean(1000) == []                         # log-0-1000 may hold a record stamped 1000
    assert wal.clean(1001) == ["log-0-1000"]
    assert wal.clean(10 ** 6) == ["log-1500-2500"]       # never the segment being written
    assert sorted(os.listdir(tmp_path)) == ["log-2600-3600"]
    assert wal.read_all() == [b"2600", b"3100"]
    assert WriteAheadLog(str(tmp_path)).read_all() == [b"2600", b"3100"]
    wal.close()
    with pytest.raises(ValueError, match="is closed"):
        wal.write(b"late", 4000)


def test_concurrent_writers_each_get_a_durable_record_of_their_own(tmp_path):
    wal = WriteAheadLog(str(tmp_path), rolling_interval_ms=5)
    results: dict[int, list] = {}

    def writer(k: int) -> None:
        results[k] = [(wal.write(f"{k}-{i}".encode(), i), f"{k}-{i}".encode()) for i in range(50)]

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = [pair for k in range(4) for pair in results[k]]
    assert all(wal.read(h) == data for h, data in written)
    assert sorted(WriteAheadLog(str(tmp_path)).read_all()) == sorted(data for _, data in written)
    # each writer's records come back in the order it wrote them
    back = WriteAheadLog(str(tmp_path)).read_all()
    for k in range(4):
        mine = [d for d in back if d.startswith(f"{k}-".encode())]
        assert mine == [data for _, data in results[k]]


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.binary(max_size=40), min_size=1, max_size=6), data=st.data())
def test_any_crash_point_leaves_exactly_the_records_written_before_it(records, data):
    with tempfile.TemporaryDirectory() as d:
        wal = WriteAheadLog(d)
        handles = [wal.write(r, 7) for r in records]
        wal.close()
        path = os.path.join(d, handles[0].segment)
        size = os.path.getsize(path)
        cut = data.draw(st.integers(0, size), label="cut")
        os.truncate(path, cut)
        complete = [r for h, r in zip(handles, records) if h.offset + HEADER + h.length <= cut]
        assert WriteAheadLog(d).read_all() == complete


def test_object_store_logs_keep_one_object_per_record():
    import fsspec
    root = f"memory://wal-test-{uuid.uuid4().hex}"
    wal = WriteAheadLog(root, rolling_interval_ms=1000)
    handles = [wal.write(f"rec{t}".encode(), t) for t in (0, 10, 2000)]
    assert [(h.segment, h.offset) for h in handles] == [("log-0-1000", 0), ("log-0-1000", 1),
                                                         ("log-2000-3000", 0)]
    assert [wal.read(h) for h in handles] == [b"rec0", b"rec10", b"rec2000"]
    assert WriteAheadLog(root).read_all() == [b"rec0", b"rec10", b"rec2000"]
    fs = fsspec.filesystem("memory")
    obj = root.removeprefix("memory://") + "/log-0-1000/000000000001"
    fs.pipe_file(obj, fs.cat_file(obj)[:-1] + b"?")
    with pytest.raises(WALCorruptError, match="000000000001.*checksum mismatch"):
        WriteAheadLog(root).read_all()
    assert wal.clean(1001) == ["log-0-1000"]
    assert WriteAheadLog(root).read_all() == [b"rec2000"]
    fs.rm(root.removeprefix("memory://"), recursive=True)
