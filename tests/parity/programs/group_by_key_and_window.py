"""groupByKeyAndWindow: short windows and windows of >= 5 slides, values
sorted and in the engine's order."""
import os

INPUT = [
    [("a", 1), ("b", 1), ("a", 2)],
    [("b", 2), ("c", 5)],
    [],
    [("a", 4), ("d", 1), ("a", 3)],
    [("c", 1)],
    [("z", 9), ("a", 5)],
    [],
    [("b", 7)],
]
BATCHES_TO_RUN = 11
# The reduce function concatenates lists: values stay in batch order within
# a key; keys in hash-partition order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("gbkaw_3_1_sorted", pairs.groupByKeyAndWindow(3, 1).mapValues(sorted))
    emit("gbkaw_5_1_list", pairs.groupByKeyAndWindow(5, 1).mapValues(list))
    emit("gbkaw_4_2_p3_list", pairs.groupByKeyAndWindow(4, 2, 3).mapValues(list))
