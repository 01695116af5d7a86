"""Each example runs as a real program, on real inputs, and prints what it should.

The socket examples read from a real TCP server on 127.0.0.1; the file example
watches a real directory. Every example is run with ``--seconds`` so that it
stops by itself (gracefully: everything received is processed first).
"""
from __future__ import annotations

import os
import re
from collections import Counter

from example_support import finish, line_server, pprint_batches, run_example, start_example  # noqa: F401 (fixture)

POEM = ["to be or not to be", "to be is to do", "not to be"]  # 6 distinct words: pprint shows 10
POEM_COUNTS = Counter(w for line in POEM for w in line.split(" "))


def summed(batches: list[list]) -> Counter:
    total: Counter = Counter()
    for batch in batches:
        for word, count in batch:
            total[word] += count
    return total


def test_demo_prints_top_hashtags_and_batch_stats():
    out = run_example("trending_hashtags.py", "--seconds", "3", "--rate", "200")
    assert "Trending at" in out
    rows = re.findall(r"^\s+(\d+)\. (#\w+)\s+(\d+)", out, re.MULTILINE)
    assert rows, out
    first_board = []
    for rank, tag, count in rows:
        if rank == "1" and first_board:
            break
        first_board.append((int(rank), tag, int(count)))
    assert [r for r, _, _ in first_board] == list(range(1, len(first_board) + 1))
    counts = [c for _, _, c in first_board]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    received = [int(n) for n in re.findall(r"batch \d\d:\d\d:\d\d \S (\d+) tweets in", out)]
    assert received and sum(received) > 0, out
    assert out.rstrip().endswith("Stopped.")


def test_network_wordcount_counts_every_word_sent(line_server):
    server = line_server(POEM * 5)
    out = run_example("network_wordcount.py", "127.0.0.1", str(server.port), "--seconds", "2")
    batches = pprint_batches(out)
    assert batches, out
    assert summed(batches) == Counter({w: 5 * n for w, n in POEM_COUNTS.items()})


def test_stateful_network_wordcount_keeps_running_totals(line_server):
    server = line_server(POEM * 3)
    out = run_example("stateful_network_wordcount.py", "127.0.0.1", str(server.port), "--seconds", "2")
    batches = [dict(b) for b in pprint_batches(out)]
    assert batches, out
    expected = Counter({w: 3 * n for w, n in POEM_COUNTS.items()}) + Counter({"hello": 1, "world": 1})
    assert batches[-1] == dict(expected)
    for before, after in zip(batches, batches[1:]):  # running counts never go down
        assert all(after[w] >= c for w, c in before.items())


def test_queue_stream_reduces_each_queued_rdd():
    out = run_example("queue_stream.py", "--seconds", "3")
    batches = [b for b in pprint_batches(out) if b]
    assert len(batches) >= 2, out
    for batch in batches:
        assert sorted(batch) == [(k, 100) for k in range(10)]


def test_file_wordcount_counts_words_of_files_moved_in(tmp_path):
    watched = tmp_path / "incoming"
    staging = tmp_path / "staging"
    watched.mkdir()
    staging.mkdir()
    (watched / "old.txt").write_text("ignored because it was there before the start\n")
    proc = start_example("file_wordcount.py", str(watched), "--seconds", "4")
    first_header = proc.stdout.readline() + proc.stdout.readline()  # the first batch has run
    assert "-----" in first_header
    for i, line in enumerate(POEM):
        staged = staging / f"part-{i}.txt"
        staged.write_text(line + "\n" + line + "\n")
        os.replace(staged, watched / staged.name)
    out, _ = finish(proc)
    assert summed(pprint_batches(first_header + out)) == Counter({w: 2 * n for w, n in POEM_COUNTS.items()})


def test_join_static_scores_words_by_static_sentiment(line_server):
    lines = ["what a great win", "great fun but terrible rain", "love love love it", "a boring late train"]
    server = line_server(lines)
    out = run_example("join_static.py", "127.0.0.1", str(server.port), "--seconds", "2")
    batches = pprint_batches(out)
    scored = summed(batches)
    assert scored == Counter({"love": 9, "great": 6, "win": 4, "fun": 4, "rain": -1, "late": -1,
                              "terrible": -3, "boring": -3})
    for batch in batches:  # each batch is printed happiest first
        assert [h for _, h in batch] == sorted((h for _, h in batch), reverse=True)


def test_socket_example_without_arguments_prints_usage():
    proc = start_example("network_wordcount.py")
    proc.wait(timeout=30)
    proc.err_file.seek(0)
    err = proc.err_file.read()
    assert proc.returncode == 2
    assert "usage: network_wordcount.py" in err and "hostname" in err
