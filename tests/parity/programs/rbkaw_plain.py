"""reduceByKeyAndWindow without an inverse function."""
from operator import add

INPUT = [
    [("a", 1), ("b", 1), ("a", 1)],
    [("b", 2), ("c", 5)],
    [],
    [("a", 4), ("d", 1), ("e", 2), ("f", 1)],
    [("c", 1)],
    [("z", 9), ("a", 1)],
]
BATCHES_TO_RUN = 8
# reduceByKey over the window: hash-partition order (see by_key).
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    pairs = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("rbkaw_3_1", pairs.reduceByKeyAndWindow(add, None, 3, 1))
    emit("rbkaw_4_2", pairs.reduceByKeyAndWindow(add, None, 4, 2))
    emit("rbkaw_2_1_p3", pairs.reduceByKeyAndWindow(add, None, 2, 1, 3))
    emit("rbkaw_3_1_glom", pairs.reduceByKeyAndWindow(add, None, 3, 1).glom())
