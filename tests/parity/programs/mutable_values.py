"""Functions that mutate the values they are given (list.extend in a reduce
function or an update function, as PySpark's own groupByKeyAndWindow does).
In PySpark every read of an RDD, cached or not, deserialises fresh objects,
so such mutation never leaks into other outputs, later windows or later
states."""
import os

INPUT = [
    [("a", [1]), ("b", [2]), ("a", [3])],
    [("a", [4]), ("b", [5])],
    [("a", [6])],
    [],
]
BATCHES_TO_RUN = 5
# reduceByKey/updateStateByKey shapes: hash-partition order; lists keep the
# order in which the shuffle delivers values.
ORDER = "exact"


def extend(a, b):
    a.extend(b)
    return a


def append_state(values, state):
    """Appends the new lists to the previous state's list, in place."""
    if state is None:
        state = []
    for v in values:
        state.extend(v)
    return state


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("reduce_extend", pairs.reduceByKey(extend))
    emit("pairs_after_reduce", pairs)
    cached = pairs.map(lambda kv: (kv[0], list(kv[1]))).cache()
    emit("cached_reduce_extend", cached.reduceByKey(extend))
    emit("cached_after_reduce", cached)
    emit("window_reduce_extend", pairs.window(3, 1).reduceByKey(extend))
    state = pairs.updateStateByKey(append_state)
    emit("state", state)
    emit("state_window", state.window(2, 1))
