"""A recoverable program reading Flume Thrift events, for the crash test (run as a subprocess).

    python crash_app.py CHECKPOINT OUTPUT PORT TOTAL [--master M]

A Thrift receiver (compact) listens on 127.0.0.1:PORT with the write-ahead
log on; event bodies are the decimal numbers 0..TOTAL-1. Each batch's bodies
go to ``OUTPUT/<batch time>.txt`` (temp file + rename), so a batch run again
after a crash rewrites the same file. The context runs on a manual clock
that this program advances itself until the output holds all TOTAL numbers;
after a crash it is recovered with getOrCreate.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from crash_driver import batch_files, parse_args, run, wal_context  # noqa: E402

from fluvial.streaming.flume import FlumeUtils  # noqa: E402


def main() -> None:
    args = parse_args()

    def setup():
        ssc = wal_context(args, "thrift-crash")
        stream = FlumeUtils.createThriftStream(ssc, "127.0.0.1", args.port, "compact")
        stream.foreachRDD(batch_files(args.output, lambda rdd: (body for _, body in rdd.collect())))
        return ssc

    run(args, setup)


if __name__ == "__main__":
    main()
