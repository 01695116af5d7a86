"""countByValueAndWindow, short and long windows (counts of 0 are filtered)."""
import os

INPUT = [["a", "b", "a"], ["b", "c"], [], ["a", "d", "e", "a"], ["c"], ["z", "a"], [], ["b"]]
BATCHES_TO_RUN = 11
# reduceByKey-shaped: hash-partition order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("cbvaw_3_1", s.countByValueAndWindow(3, 1))
    emit("cbvaw_5_1", s.countByValueAndWindow(5, 1))
    emit("cbvaw_4_2_p3", s.countByValueAndWindow(4, 2, 3))
