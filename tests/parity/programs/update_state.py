"""updateStateByKey: running totals, keys removed by returning None, an
initial RDD, an explicit partition count, and batches with no new data."""
import os

INPUT = [
    [("a", 1), ("b", 1), ("a", 1)],
    [("b", 2), ("c", 5), ("reset", 0)],
    [],
    [("a", 4), ("d", 1), ("c", -5)],
    [("c", 1)],
]
BATCHES_TO_RUN = 8  # the last three come from the drained queue (empty RDDs)
# cogroup-based: keys in hash-partition order.
ORDER = "exact"


def running_total(values, state):
    """Sum of the values so far; a key whose total drops to 0 is removed."""
    total = (state or 0) + sum(values)
    return None if total == 0 and (values or state is not None) else total


def idle_removal(values, state):
    """Count of batches in which the key had values; removed after a batch without any."""
    if not values:
        return None
    return (state or 0) + 1


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("total", pairs.updateStateByKey(running_total))
    emit("idle_removal", pairs.updateStateByKey(idle_removal))
    initial = sc.parallelize([("a", 100), ("q", 7), ("c", 5)], 2)
    emit("total_initial_p3", pairs.updateStateByKey(running_total, 3, initial))
    emit("total_initial_list", pairs.updateStateByKey(running_total, initialRDD=[("b", -1), ("x", 1)]))
