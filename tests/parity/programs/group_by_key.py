"""groupByKey, values sorted and in the engine's order."""
INPUT = [
    [("a", 3), ("b", 1), ("a", 1), ("c", 2), ("a", 2), ("b", 5)],
    [("z", 1)],
    [],
    [("a", 9), ("a", 8), ("a", 7), ("q", 0), ("b", 4), ("q", 1)],
]
BATCHES_TO_RUN = 5
# Keys come out in hash-partition order, values in the order the shuffle
# delivers them (map partition order): both deterministic.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("groupByKey_sorted", pairs.groupByKey().mapValues(sorted))
    emit("groupByKey3_list", pairs.groupByKey(3).mapValues(list))
    emit("groupByKey_len", pairs.groupByKey().mapValues(len))
