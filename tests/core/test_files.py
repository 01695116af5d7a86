"""Reading and writing files: text splits, line endings, compression,
decoding errors, output layout, whole files and fixed-length records."""
from __future__ import annotations

import bz2
import gzip
import os
import re

import pytest
from core_helpers import HYPO
from hypothesis import given
from hypothesis import strategies as st

from fluvial.core.task import TaskRetriesExhaustedError

line_text = st.text(st.sampled_from("ab é\t"), max_size=12)


@HYPO
@given(lines=st.lists(line_text, max_size=30), eol=st.sampled_from(["\n", "\r\n", "\r"]),
       trailing=st.booleans(), min_parts=st.integers(1, 40))
def test_text_file_reads_each_line_exactly_once(sc, tmp_path_factory, lines, eol, trailing, min_parts):
    path = tmp_path_factory.mktemp("txt") / "data.txt"
    body = eol.join(lines) + (eol if trailing and lines else "")
    path.write_bytes(body.encode("utf-8"))
    expected = re.split(r"\r\n|\r|\n", body) if body else []
    if expected and expected[-1] == "":
        expected.pop()  # a terminator at the very end does not start another line
    rdd = sc.textFile(str(path), min_parts)
    assert rdd.collect() == expected
    assert rdd.getNumPartitions() >= min(min_parts, max(1, len(body.encode())))


def test_text_file_split_count_follows_hadoop_rules(sc, tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("x" * 99 + "\n")
    assert sc.textFile(str(path), 4).getNumPartitions() == 4
    assert sc.textFile(str(path), 1).getNumPartitions() == 1
    assert sc.textFile(str(path)).getNumPartitions() == 2  # min(defaultParallelism, 2)
    (tmp_path / "empty.txt").write_text("")
    assert sc.textFile(str(tmp_path / "empty.txt")).collect() == []


def test_text_file_line_endings_and_bom(sc, tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n\nfour")
    assert sc.textFile(str(path), 3).collect() == ["one", "two", "three", "", "four"]
    assert sc.textFile(str(path), 1, use_unicode=False).collect() == [b"one", b"two", b"three", b"", b"four"]


def test_text_file_reads_compressed_files_whole(sc, tmp_path):
    lines = [f"line {i}" for i in range(1000)]
    with gzip.open(tmp_path / "a.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    (tmp_path / "b.bz2").write_bytes(bz2.compress(b"x\r\ny\n"))
    rdd = sc.textFile(str(tmp_path / "a.gz"), 8)
    assert rdd.getNumPartitions() == 1 and rdd.collect() == lines
    assert sc.textFile(str(tmp_path / "b.bz2")).collect() == ["x", "y"]


def test_undecodable_bytes_error_names_file_and_offset(sc, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\nbad \xff here\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*byte offset 14"):
        sc.textFile(str(path)).collect()
    assert sc.textFile(str(path), use_unicode=False).collect()[1] == b"bad \xff here"


def test_input_paths_directories_globs_lists_and_hidden_files(sc, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "part-1").write_text("a\nb\n")
    (d / "part-2").write_text("c\n")
    (d / "_SUCCESS").write_text("")
    (d / ".hidden").write_text("secret\n")
    (d / "sub").mkdir()
    assert sc.textFile(str(d)).collect() == ["a", "b", "c"]
    assert sc.textFile(str(d / "*")).collect() == ["a", "b", "c"]
    assert sc.textFile(f"{d / 'part-2'},file://{d / 'part-1'}").collect() == ["c", "a", "b"]
    with pytest.raises(FileNotFoundError, match="nope"):
        sc.textFile(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="matches 0 files"):
        sc.textFile(str(tmp_path / "zz*"))
    with pytest.raises(ValueError, match="minPartitions.*-1"):
        sc.textFile(str(d), -1)


def test_save_as_text_file_layout_and_round_trip(sc, tmp_path):
    out = tmp_path / "out"
    data = ["x", 1, b"raw", ("t", 2), "é"]
    sc.parallelize(data, 3).saveAsTextFile(str(out))
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert (out / "_SUCCESS").read_bytes() == b""
    assert (out / "part-00000").read_bytes() == b"x\n"
    assert sc.textFile(str(out)).collect() == ["x", "1", "raw", "('t', 2)", "é"]
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsTextFile(str(out))
    sc.parallelize([], 2).saveAsTextFile(str(tmp_path / "empty"))
    assert (tmp_path / "empty" / "part-00001").read_bytes() == b""


def test_save_as_text_file_compressed(sc, tmp_path):
    sc.parallelize(range(5), 2).saveAsTextFile(str(tmp_path / "gz"), "org.apache.hadoop.io.compress.GzipCodec")
    assert sorted(os.listdir(tmp_path / "gz")) == ["_SUCCESS", "part-00000.gz", "part-00001.gz"]
    assert sc.textFile(str(tmp_path / "gz")).collect() == ["0", "1", "2", "3", "4"]
    sc.parallelize(range(3), 1).saveAsTextFile(str(tmp_path / "bz"), "org.apache.hadoop.io.compress.BZip2Codec")
    assert sc.textFile(str(tmp_path / "bz")).collect() == ["0", "1", "2"]
    sc.parallelize(range(3), 1).saveAsTextFile(str(tmp_path / "df"), "org.apache.hadoop.io.compress.DefaultCodec")
    assert sc.textFile(str(tmp_path / "df" / "part-00000.deflate")).collect() == ["0", "1", "2"]
    with pytest.raises(ValueError, match="compressionCodecClass.*SnappyCodec"):
        sc.parallelize([1]).saveAsTextFile(str(tmp_path / "sn"), "org.apache.hadoop.io.compress.SnappyCodec")


def test_failed_save_removes_output_directory(sc, tmp_path):
    def boom(x):
        raise OSError("disk full")
    with pytest.raises(TaskRetriesExhaustedError, match="disk full") as failed:  # an OSError is retried first
        sc.parallelize([1, 2], 2).map(boom).saveAsTextFile(str(tmp_path / "o"))
    assert type(failed.value.__cause__) is OSError
    assert not (tmp_path / "o").exists()


def test_pickle_file_round_trip(sc, tmp_path):
    data = [{"a": 1}, (2, 3), None, "s"] * 7
    sc.parallelize(data, 3).saveAsPickleFile(str(tmp_path / "p"), batchSize=4)
    assert sc.pickleFile(str(tmp_path / "p")).collect() == data


def test_whole_text_files_and_binary_files(sc, tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "b.txt").write_text("bee\nbuzz")
    (d / "a.txt").write_text("ay")
    (d / "_ignored").write_text("no")
    got = sc.wholeTextFiles(str(d)).collect()
    assert got == [(f"file:{d / 'a.txt'}", "ay"), (f"file:{d / 'b.txt'}", "bee\nbuzz")]
    raw = sc.wholeTextFiles(str(d), use_unicode=False).collect()
    assert raw[0] == (f"file:{d / 'a.txt'}".encode(), b"ay")
    assert sc.binaryFiles(str(d)).collect() == [(f"file:{d / 'a.txt'}", b"ay"), (f"file:{d / 'b.txt'}", b"bee\nbuzz")]
    assert sc.wholeTextFiles(str(d), 2).getNumPartitions() == 1  # 2 + 8 bytes: b.txt closes the first split
    eq = tmp_path / "eq"
    eq.mkdir()
    for i in range(4):
        (eq / f"{i}.txt").write_text("abcd")
    assert sc.wholeTextFiles(str(eq), 2).glom().map(len).collect() == [2, 2]
    (d / "c.txt").write_bytes(b"\xfe")
    with pytest.raises(ValueError, match="c.txt.*byte offset 0"):
        sc.wholeTextFiles(str(d)).collect()


def test_binary_records(sc, tmp_path):
    (tmp_path / "r1.bin").write_bytes(bytes(range(12)))
    (tmp_path / "r2.bin").write_bytes(b"abcd")
    rdd = sc.binaryRecords(str(tmp_path / "r*.bin"), 4)
    assert rdd.collect() == [bytes([0, 1, 2, 3]), bytes([4, 5, 6, 7]), bytes([8, 9, 10, 11]), b"abcd"]
    (tmp_path / "odd.bin").write_bytes(b"abcde")
    with pytest.raises(ValueError, match="odd.bin.*partial record"):
        sc.binaryRecords(str(tmp_path / "odd.bin"), 4).collect()
    for bad in (0, -4, 2.0):
        with pytest.raises(ValueError, match="recordLength"):
            sc.binaryRecords(str(tmp_path / "r1.bin"), bad)
