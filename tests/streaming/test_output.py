"""Output operations: pprint's exact layout, saveAsTextFiles' file names,
foreachRDD with one or two arguments (chosen as PySpark chooses)."""
from __future__ import annotations

import functools
import os
from datetime import datetime

from fluvial.testing import run_stream

BAR = "-------------------------------------------"


def header(seconds):
    return [BAR, f"Time: {datetime.fromtimestamp(seconds)}", BAR]


def test_pprint_prints_a_header_records_ellipsis_and_a_blank_line(sc, capsys):
    batches = [list(range(12)), [], ["x", ("k", 1)], list(range(11))]
    run_stream(sc, [batches], lambda s: [s.pprint(), s.map(lambda x: x)][1])
    lines = capsys.readouterr().out.split("\n")
    want = (header(1) + [str(i) for i in range(10)] + ["...", ""]
            + header(2) + [""]
            + header(3) + ["x", "('k', 1)", ""]
            + header(4) + [str(i) for i in range(10)] + ["...", ""] + [""])
    assert lines == want


def test_pprint_with_num_and_no_ellipsis_when_exactly_num(sc, capsys):
    run_stream(sc, [[[1, 2, 3], [1, 2, 3, 4]]], lambda s: [s.pprint(3), s][1])
    lines = capsys.readouterr().out.split("\n")
    assert lines == header(1) + ["1", "2", "3", ""] + header(2) + ["1", "2", "3", "...", ""] + [""]


def test_pprint_time_of_a_sub_second_batch(sc, capsys):
    run_stream(sc, [[[1]]], lambda s: [s.pprint(), s][1], batchDuration=0.5)
    out = capsys.readouterr().out
    assert f"Time: {datetime.fromtimestamp(0.5)}\n" in out and ".500000" in out


def test_save_as_text_files_writes_prefix_dash_millis_dot_suffix(sc, tmp_path):
    prefix = str(tmp_path / "out")
    run_stream(sc, [[["a", "b"], [], [1, 2, 3]]], lambda s: [s.saveAsTextFiles(prefix, "txt"), s][1],
               numSlices=2)
    assert sorted(os.listdir(tmp_path)) == ["out-1000.txt", "out-2000.txt", "out-3000.txt"]

    def read(name):
        d = tmp_path / name
        return [line for f in sorted(os.listdir(d)) if f.startswith("part-")
                for line in (d / f).read_text().splitlines()]
    assert read("out-1000.txt") == ["a", "b"]
    assert read("out-2000.txt") == []
    assert read("out-3000.txt") == ["1", "2", "3"]


def test_save_as_text_files_without_suffix_and_over_an_existing_directory(sc, tmp_path):
    prefix = str(tmp_path / "logs")
    os.makedirs(prefix + "-2000")
    (tmp_path / "logs-2000" / "keep").write_text("old")
    run_stream(sc, [[["a"], ["b"]]], lambda s: [s.saveAsTextFiles(prefix), s][1])
    assert sorted(os.listdir(tmp_path)) == ["logs-1000", "logs-2000"]
    assert os.listdir(tmp_path / "logs-2000") == ["keep"]      # left as is, as PySpark does


class Collector:
    def __init__(self):
        self.calls = []

    def one(self, rdd):
        self.calls.append(("one", rdd.collect()))

    def two(self, time, rdd):
        self.calls.append(("two", time.second, rdd.collect()))

    def __call__(self, time, rdd):
        self.calls.append(("call", time.second, rdd.collect()))


def test_foreach_rdd_passes_time_only_to_two_argument_functions(sc):
    c = Collector()
    got = []

    def with_default(time, rdd=None):           # co_argcount 2: called with (time, rdd), as PySpark does
        got.append(("default", time.second, rdd.collect()))

    def build(s):
        s.foreachRDD(c.one)
        s.foreachRDD(c.two)
        s.foreachRDD(c)
        s.foreachRDD(lambda rdd: got.append(("lambda1", rdd.collect())))
        s.foreachRDD(lambda t, rdd: got.append(("lambda2", t.second, rdd.collect())))
        s.foreachRDD(with_default)
        s.foreachRDD(functools.partial(lambda tag, rdd: got.append((tag, rdd.collect())), "partial"))
        return s
    run_stream(sc, [[[7]]], build)
    assert c.calls == [("one", [7]), ("two", 1, [7]), ("call", 1, [7])]
    assert got == [("lambda1", [7]), ("lambda2", 1, [7]), ("default", 1, [7]), ("partial", [7])]


def test_output_operations_of_a_batch_run_in_declaration_order(sc):
    order = []

    def appender(i):
        return lambda rdd: order.append((i, rdd.collect()))

    def build(s):
        for i in range(5):
            s.foreachRDD(appender(i))
        return s
    run_stream(sc, [[[1], [2]]], build)
    assert order == [(i, [1]) for i in range(5)] + [(i, [2]) for i in range(5)]


def test_save_as_text_files_rewrites_an_output_a_crash_left_incomplete(sc, tmp_path):
    prefix = str(tmp_path / "logs")
    torn = tmp_path / "logs-1000"
    (torn / "_temporary").mkdir(parents=True)
    (torn / "part-00000").write_text("half\n")
    run_stream(sc, [[["a", "b"]]], lambda s: [s.saveAsTextFiles(prefix), s][1])
    assert sorted(os.listdir(torn)) == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(len(os.listdir(torn)) - 1)]
    lines = sorted(line for f in os.listdir(torn) if f.startswith("part-")
                   for line in (torn / f).read_text().splitlines())
    assert lines == ["a", "b"]
