"""reduceByKeyAndWindow with an inverse function and a window of at least 5
slides, so each window is the previous one minus the batches that left plus
the ones that entered; with and without filterFunc. Runs past the first RDD
checkpoint (10 s)."""
import os
from operator import add, sub

INPUT = [
    [("a", 1), ("b", 1), ("a", 1)],
    [("b", 2), ("c", 5)],
    [],
    [("a", 4), ("d", 1), ("e", 2), ("f", 1)],
    [("c", 1)],
    [("z", 9), ("a", 1)],
    [("b", 1)],
    [],
    [("g", 3), ("a", 2)],
]
BATCHES_TO_RUN = 16
# Incremental windows are joins and reduceByKeys over hash-partitioned RDDs:
# hash-partition order within each partition, deterministic.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("inv_5_1", pairs.reduceByKeyAndWindow(add, sub, 5, 1))
    emit("inv_5_1_filter", pairs.reduceByKeyAndWindow(add, sub, 5, 1, filterFunc=lambda kv: kv[1] > 0))
    emit("inv_6_1_p3", pairs.reduceByKeyAndWindow(add, sub, 6, 1, 3))
    emit("inv_10_2", pairs.reduceByKeyAndWindow(add, sub, 10, 2))
