"""reduceByKeyAndWindow with an inverse function but a window shorter than 5
slides: every window is reduced from scratch; with and without filterFunc."""
import os
from operator import add, sub

INPUT = [
    [("a", 1), ("b", 1), ("a", 1)],
    [("b", 2), ("c", 5)],
    [],
    [("a", 4), ("d", 1), ("e", 2), ("f", 1)],
    [("c", 1)],
    [("z", 9), ("a", 1)],
]
BATCHES_TO_RUN = 9
# reduceByKey over a union of hash-partitioned RDDs: deterministic order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("inv_3_1", pairs.reduceByKeyAndWindow(add, sub, 3, 1))
    emit("inv_3_1_filter", pairs.reduceByKeyAndWindow(add, sub, 3, 1, filterFunc=lambda kv: kv[0] != "a"))
    emit("inv_4_2", pairs.reduceByKeyAndWindow(add, sub, 4, 2))
    emit("inv_2_1_p3", pairs.reduceByKeyAndWindow(add, sub, 2, 1, 3))
