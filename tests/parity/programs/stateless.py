"""Narrow, per-partition operations: map, flatMap, filter, glom,
mapPartitions(WithIndex), mapValues, flatMapValues."""
INPUT = [["a b a", "c a", "b"], ["b b", ""], [], ["d a c b e", "a", "f g"], ["a"]]
BATCHES_TO_RUN = 6  # the 6th batch comes from the drained queue (an empty RDD)
# Narrow operations keep parallelize's slicing and each partition's order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    lines = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    words = lines.flatMap(lambda line: line.split())
    emit("flatMap", words)
    emit("map", words.map(lambda w: (w, len(w))))
    emit("filter", words.filter(lambda w: w not in ("a", "b")))
    emit("glom", words.glom())
    emit("mapPartitions", lines.mapPartitions(lambda it: [sum(1 for _ in it)]))
    emit("mapPartitionsWithIndex", lines.mapPartitionsWithIndex(lambda i, it: [(i, list(it))]))
    pairs = words.map(lambda w: (w, w.upper()))
    emit("mapValues", pairs.mapValues(lambda v: v * 2))
    emit("flatMapValues", pairs.flatMapValues(lambda v: [v, v.lower()]))
