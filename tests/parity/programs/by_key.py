"""Shuffles by key: reduceByKey (default and explicit partition counts),
countByValue, combineByKey, partitionBy, and where each key lands (glom)."""
from operator import add

INPUT = [
    [("a", 1), ("b", 2), ("a", 3), (7, 1), (None, 5), (("t", 1), 2), ("c", 1)],
    [("b", 1), ("b", 1), ("x", 4), (7, 2), (-3, 1), (2.5, 1)],
    [],
    [("a", 10), ("e", 1), ("f", 1), ("g", 1), ("h", 1), ("a", 1), (None, 1)],
]
BATCHES_TO_RUN = 5
# Hash partitioning portable_hash(k) % n with PYTHONHASHSEED=0 fixes which
# partition a key lands in, and the shuffle reads map outputs in map-partition
# order, so the order of keys within each partition is deterministic too.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("reduceByKey", pairs.reduceByKey(add))
    emit("reduceByKey3", pairs.reduceByKey(add, 3))
    emit("reduceByKey3_glom", pairs.reduceByKey(add, 3).glom())
    emit("countByValue", pairs.map(lambda kv: kv[0]).countByValue())
    emit("combineByKey", pairs.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b))
    emit("partitionBy_glom", pairs.partitionBy(3).glom())
    emit("partitionBy_func_glom", pairs.partitionBy(2, lambda k: len(str(k))).glom())
