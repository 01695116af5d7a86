"""Joins with a static RDD (inside transform) and between windowed streams."""
LEFT = [
    [("a", 1), ("b", 2), ("a", 3)],
    [("z", 1), ("c", 0)],
    [],
    [("b", 5), ("a", 6)],
    [("c", 7)],
]
RIGHT = [
    [("a", "x")],
    [("b", "y"), ("a", "w")],
    [("c", "v")],
    [],
    [("z", "u"), ("a", "t")],
]
BATCHES_TO_RUN = 6
# Joins are shuffles by key: hash-partition order (see joins).
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    static = sc.parallelize([("a", "A"), ("b", "B"), ("z", "Z")], 2)
    left = ssc.queueStream([sc.parallelize(b, 2) for b in LEFT])
    right = ssc.queueStream([sc.parallelize(b, 2) for b in RIGHT])
    emit("static_join", left.transform(lambda rdd: rdd.join(static)))
    emit("static_leftOuterJoin_p3", left.transform(lambda rdd: rdd.leftOuterJoin(static, 3)))
    emit("window_join", left.window(3, 1).join(right))
    emit("join_window_p3", left.leftOuterJoin(right.window(2, 1), 3))
    emit("windows_fullOuterJoin", left.window(4, 2).fullOuterJoin(right.window(2, 2)))
