"""repartition: partition count and which records land where (glom)."""
INPUT = [list(range(25)), list(range(100, 103)), [], ["s%d" % i for i in range(40)]]
BATCHES_TO_RUN = 4
# PySpark's repartition sends batches of (at most) 10 serialised records
# round-robin, starting at a position seeded by the input partition's index,
# and the shuffle reads map outputs in order: the layout is deterministic.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    nums = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("repartition3_glom", nums.repartition(3).glom())
    emit("repartition1_glom", nums.repartition(1).glom())
    emit("repartition5_sizes", nums.repartition(5).glom().map(len))
