"""join, leftOuterJoin, rightOuterJoin, fullOuterJoin and cogroup."""
LEFT = [
    [("a", 1), ("b", 2), ("a", 3), ("c", 4)],
    [("x", 1)],
    [],
    [("k", 1), ("k", 2), ("m", 3)],
]
RIGHT = [
    [("a", "A"), ("c", "C"), ("c", "CC"), ("d", "D")],
    [],
    [("y", "Y")],
    [("k", "K"), ("m", "M"), ("m", "MM"), ("n", "N")],
]
BATCHES_TO_RUN = 5
# Joins are groupByKey over the tagged union of both sides: keys in
# hash-partition order, pairs in the order the shuffle delivers them.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    left = ssc.queueStream([sc.parallelize(b, 2) for b in LEFT])
    right = ssc.queueStream([sc.parallelize(b, 2) for b in RIGHT])
    emit("join", left.join(right))
    emit("join3", left.join(right, 3))
    emit("leftOuterJoin", left.leftOuterJoin(right))
    emit("rightOuterJoin", left.rightOuterJoin(right))
    emit("fullOuterJoin", left.fullOuterJoin(right))
    emit("cogroup", left.cogroup(right).mapValues(lambda vw: (sorted(vw[0]), sorted(vw[1]))))
