"""A transform that returns None for some batches: those batches have no RDD;
union/transformWith with such a stream see an empty RDD in its place."""
A = [[1, 2], [3], [4, 5], [6]]
B = [["x"], ["y"], ["z"], ["w"]]
BATCHES_TO_RUN = 4
# Narrow operations and unions only.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    a = ssc.queueStream([sc.parallelize(x, 2) for x in A])
    b = ssc.queueStream([sc.parallelize(x, 2) for x in B])
    sometimes = a.transform(lambda rdd: rdd if rdd.sum() % 2 else None)
    emit("sometimes", sometimes)
    emit("union_with_missing", b.union(sometimes))
    emit("transformWith_missing", b.transformWith(lambda x, y: x.union(y.map(lambda v: -v)), sometimes))
