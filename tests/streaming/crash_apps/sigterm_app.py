"""A streaming program stopped by SIGTERM (run as a subprocess by test_sigterm.py).

    python sigterm_app.py OUTPUT RECORDS [--not-graceful] [--no-await] [--workers]

A receiver stores RECORDS records as soon as it starts and prints "stored";
batches are 60 s long, so no batch runs before the test sends SIGTERM. Each
batch appends its record count to OUTPUT. The main thread waits in
awaitTermination (or, with --no-await, sleeps in a loop of its own).
With --workers, tasks run in two worker processes, whose pids the program
prints once started ("workers PID PID") and after terminating
("workers at the end PID PID").
"""
import sys
import time

from fluvial import SparkConf, SparkContext
from fluvial.streaming import Receiver, StreamingContext


class Numbers(Receiver):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def onStart(self) -> None:
        self.storeAll(range(self.n))
        print("stored", flush=True)


def main() -> None:
    output, records = sys.argv[1], int(sys.argv[2])
    conf = SparkConf().setMaster("local[2]" if "--workers" in sys.argv else "local").setAppName("sigterm")
    if "--not-graceful" in sys.argv:
        conf.set("spark.streaming.stopGracefullyOnShutdown", "false")
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, 60)

    def record(rdd):
        with open(output, "a") as f:
            f.write(f"{rdd.count()}\n")

    ssc.receiverStream(Numbers(records)).foreachRDD(record)
    ssc.start()
    if "--workers" in sys.argv:
        print("workers", *sc._executor.worker_pids, flush=True)
    if "--no-await" in sys.argv:
        while True:
            time.sleep(0.05)
    ssc.awaitTermination()
    if "--workers" in sys.argv:
        print("workers at the end", *sc._executor.worker_pids, flush=True)
    print("terminated normally", flush=True)


if __name__ == "__main__":
    main()
