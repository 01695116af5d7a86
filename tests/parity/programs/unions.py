"""DStream.union and StreamingContext.union, with the partition layout."""
A = [["a1", "a2", "a3"], ["a4"], [], ["a5", "a6"]]
B = [["b1"], ["b2", "b3", "b4"], ["b5"], []]
C = [["c1", "c2"], [], ["c3"], ["c4"]]
BATCHES_TO_RUN = 5
# A union concatenates its parents' partitions in order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    a = ssc.queueStream([sc.parallelize(x, 2) for x in A])
    b = ssc.queueStream([sc.parallelize(x, 2) for x in B])
    c = ssc.queueStream([sc.parallelize(x, 3) for x in C])
    emit("union", a.union(b))
    emit("union_glom", a.union(b).glom())
    emit("ssc_union", ssc.union(a, b, c))
    emit("ssc_union_glom", ssc.union(a, b, c).glom())
    emit("union_mapped", a.map(lambda s: s.upper()).union(c.map(len)))
