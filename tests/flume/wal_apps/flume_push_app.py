"""A recoverable Flume push program for the crash test (run as a subprocess).

    python flume_push_app.py CHECKPOINT OUTPUT PORT TOTAL [--master M]

A push stream on 127.0.0.1:PORT with the receiver write-ahead log on; each
batch's event ids go to ``OUTPUT/<batch time>.txt`` (temp file + rename), so a
batch run again after a crash rewrites the same file. The context runs on a
manual clock this program advances until the output holds TOTAL distinct
ids; after a crash it is recovered with getOrCreate.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from crash_driver import batch_files, parse_args, run, wal_context  # noqa: E402

from fluvial.streaming.flume import FlumeUtils  # noqa: E402


def main() -> None:
    args = parse_args()

    def setup():
        ssc = wal_context(args, "flume-push-crash")
        stream = FlumeUtils.createStream(ssc, "127.0.0.1", args.port)
        stream.foreachRDD(batch_files(args.output, lambda rdd: (h["id"] for h, _ in rdd.collect())))
        return ssc

    run(args, setup)


if __name__ == "__main__":
    main()
