r"""Live trending hashtags over a sliding window.

A seeded generator produces a few hundred realistic tweets per second whose
topics rise and fall over time. Every 2 seconds this program prints the 10
most used hashtags of the last 10 seconds, computed incrementally with
reduceByKeyAndWindow and an inverse function (add what entered the window,
subtract what left it), plus the batch's statistics from a StreamingListener.

Usage: trending_hashtags.py [--seconds N] [--rate R] [--seed S] [--master M]

    make demo                          # runs until Ctrl-C
    make demo ARGS="--seconds 20"      # stops by itself after 20 s
"""
import argparse
import re
import sys
import tempfile
import time
from operator import add, sub

from fluvial import SparkContext
from fluvial.streaming import StreamingContext, StreamingListener
from fluvial.streaming.sources.generator import tweet_stream

BATCH_SECONDS = 2
WINDOW_SECONDS = 10
SLIDE_SECONDS = 2
TOP = 10
HASHTAG = re.compile(r"#\w+")


def _can_print(text):
    try:
        text.encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


FANCY = _can_print("█▲▼·")
BAR, UP, DOWN, DOT = ("█", "▲", "▼", "·") if FANCY else ("=", "+", "-", "|")


def clock_time(ms):
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))


class Board:
    """Prints the top hashtags of each window, with each tag's rank change."""

    def __init__(self):
        self.previous_ranks = {}

    def show(self, when, rdd):
        top = rdd.takeOrdered(TOP, key=lambda kv: (-kv[1], kv[0]))
        distinct = rdd.count()
        print()
        print(f"Trending at {when:%H:%M:%S}   last {WINDOW_SECONDS} s {DOT} {distinct} distinct hashtags")
        if not top:
            print("  (no tweets in the window yet)")
        widest = top[0][1] if top else 1
        ranks = {}
        for rank, (tag, count) in enumerate(top, 1):
            ranks[tag] = rank
            before = self.previous_ranks.get(tag)
            if not self.previous_ranks:
                move = ""
            elif before is None:
                move = "new"
            elif before > rank:
                move = f"{UP}{before - rank}"
            elif before < rank:
                move = f"{DOWN}{rank - before}"
            else:
                move = ""
            bar = BAR * max(1, round(24 * count / widest))
            print(f"  {rank:>2}. {tag:<20} {count:>5}  {bar:<24} {move}".rstrip())
        self.previous_ranks = ranks
        sys.stdout.flush()


class BatchStats(StreamingListener):
    """One line per completed batch: what came in and how long it took."""

    def onBatchCompleted(self, batchCompleted):
        info = batchCompleted.batchInfo()
        print(f"  batch {clock_time(info.batchTime().milliseconds())} {DOT} {info.numRecords()} tweets in "
              f"{DOT} processed in {info.processingDelay()} ms "
              f"{DOT} scheduling delay {info.schedulingDelay()} ms", flush=True)


def main():
    parser = argparse.ArgumentParser(description="Live trending hashtags over a sliding window.")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop gracefully after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--rate", type=float, default=300.0, help="tweets per second (default 300)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the tweet generator (default 42)")
    parser.add_argument("--master", default="local[2]", help="local, local[N] or local[*] (default local[2])")
    args = parser.parse_args()
    if args.seconds is not None and args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")

    sc = SparkContext(args.master, "TrendingHashtags")
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, BATCH_SECONDS)
    checkpoint_dir = tempfile.TemporaryDirectory(prefix="fluvial-demo-checkpoint-")
    ssc.checkpoint(checkpoint_dir.name)

    tweets = tweet_stream(ssc, rate=args.rate, seed=args.seed)
    hashtags = tweets.flatMap(lambda tweet: HASHTAG.findall(tweet)).map(lambda tag: (tag, 1))
    window_counts = hashtags.reduceByKeyAndWindow(add, sub, WINDOW_SECONDS, SLIDE_SECONDS,
                                                  filterFunc=lambda kv: kv[1] > 0)
    board = Board()
    window_counts.foreachRDD(board.show)
    ssc.addStreamingListener(BatchStats())

    until = "Ctrl-C" if args.seconds is None else f"{args.seconds:g} s"
    print(f"fluvial demo: trending hashtags, {args.rate:g} tweets/s (seed {args.seed}) on {args.master}.")
    print(f"Window {WINDOW_SECONDS} s, sliding every {SLIDE_SECONDS} s; runs until {until}.", flush=True)
    ssc.start()
    try:
        if args.seconds is None:
            ssc.awaitTermination()
        else:
            ssc.awaitTerminationOrTimeout(args.seconds)
    except KeyboardInterrupt:
        print("\nStopping: finishing the tweets already received...", flush=True)
    finally:
        try:
            ssc.stop(stopSparkContext=True, stopGraceFully=True)
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait for the last batch
            print("Stopping now, without finishing the last batch.", flush=True)
            ssc.stop(stopSparkContext=True)
        checkpoint_dir.cleanup()
    print("Stopped.")


if __name__ == "__main__":
    main()
