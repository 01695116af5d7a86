"""transform (one and two arguments), transformWith, StreamingContext.transform."""
A = [[1, 2, 3, 4], [5, 6], [], [7]]
B = [["x", "y"], [], ["z"], ["w", "v"]]
BATCHES_TO_RUN = 5
# Every RDD function used keeps a deterministic order (narrow ops, union,
# zipWithIndex, sortBy).
ORDER = "exact"


def _ms(t):
    import time
    return int(time.mktime(t.timetuple())) * 1000 + t.microsecond // 1000


def build(ssc, sc, emit, workdir):
    a = ssc.queueStream([sc.parallelize(x, 2) for x in A])
    b = ssc.queueStream([sc.parallelize(x, 2) for x in B])
    emit("transform", a.transform(lambda rdd: rdd.map(lambda x: x * 10).filter(lambda x: x != 50)))
    emit("transform_time", a.transform(lambda t, rdd: rdd.map(lambda x, ms=_ms(t): (ms, x))))
    emit("transform_sortBy", a.transform(lambda rdd: rdd.sortBy(lambda x: -x)))
    emit("transform_zipWithIndex", b.transform(lambda rdd: rdd.zipWithIndex()))
    emit("transformWith", a.transformWith(lambda x, y: x.map(str).union(y), b))
    emit("transformWith_time", a.transformWith(lambda t, x, y: x.cartesian(y).map(lambda p, ms=_ms(t): (ms, p)), b))
    emit("ssc_transform", ssc.transform([a, b], lambda rdds: rdds[1].union(rdds[0].map(str)).glom()))
