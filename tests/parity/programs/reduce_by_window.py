"""reduceByWindow with and without an inverse function."""
import os
from operator import add, sub

INPUT = [[1, 2, 3], [4], [], [10, 20], [5], [], [], [1]]
BATCHES_TO_RUN = 11
# One record (or none) per batch.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("rbw_add_3_1", s.reduceByWindow(add, None, 3, 1))
    emit("rbw_max_4_2", s.reduceByWindow(max, None, 4, 2))
    emit("rbw_add_sub_5_1", s.reduceByWindow(add, sub, 5, 1))
    emit("rbw_add_sub_2_1", s.reduceByWindow(add, sub, 2, 1))
