"""count and reduce, including empty batches: an empty list parallelized
into 2 slices, and the empty RDD a drained queue yields."""
from operator import add

INPUT = [[1, 2, 3, 4, 5], [], [10], [3, 3, 3, 3, 3, 3, 3]]
BATCHES_TO_RUN = 6
# One record (or none) per batch.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    nums = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("count", nums.count())
    emit("reduce_add", nums.reduce(add))
    emit("reduce_max", nums.reduce(max))
    emit("reduce_tuple", nums.map(lambda x: (x, 1)).reduce(lambda a, b: (a[0] + b[0], a[1] + b[1])))
