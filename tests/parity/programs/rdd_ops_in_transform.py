"""RDD operations inside transform whose partition layout PySpark fixes:
sortBy (sampled range bounds), distinct, sample with a seed, sortByKey,
aggregateByKey, foldByKey, keyBy, zipWithUniqueId, coalesce."""
from operator import add

INPUT = [
    [(i * 37) % 101 for i in range(40)],
    [5, 3, 5, 1, 3, 9, 9, 9],
    [],
    list(range(30, 0, -1)),
]
BATCHES_TO_RUN = 4
# Every operation's output layout is fixed by the seed or the partitioning.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    nums = ssc.queueStream([sc.parallelize(b, 3) for b in INPUT])
    emit("sortBy_glom", nums.transform(lambda rdd: rdd.sortBy(lambda x: x, numPartitions=3).glom()))
    emit("sortBy_desc", nums.transform(lambda rdd: rdd.sortBy(lambda x: x % 7, ascending=False)))
    emit("distinct_glom", nums.transform(lambda rdd: rdd.distinct().glom()))
    emit("sample", nums.transform(lambda rdd: rdd.sample(False, 0.5, 7)))
    emit("sample_replace", nums.transform(lambda rdd: rdd.sample(True, 0.7, 3)))
    pairs = nums.map(lambda x: (x % 5, x))
    emit("sortByKey_glom", pairs.transform(lambda rdd: rdd.sortByKey(numPartitions=2).glom()))
    emit("aggregateByKey", pairs.transform(lambda rdd: rdd.aggregateByKey((0, 0), lambda a, v: (a[0] + v, a[1] + 1),
                                                                      lambda a, b: (a[0] + b[0], a[1] + b[1]))))
    emit("foldByKey", pairs.transform(lambda rdd: rdd.foldByKey(0, add)))
    emit("keyBy_zipWithUniqueId", nums.transform(lambda rdd: rdd.keyBy(lambda x: x % 3).zipWithUniqueId()))
    emit("coalesce_glom", nums.transform(lambda rdd: rdd.coalesce(2).glom()))
