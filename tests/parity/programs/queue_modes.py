"""queueStream: oneAtATime True/False, a default RDD (or list), a queue of
plain lists (parallelized with the default parallelism), and an empty queue
with a default."""
INPUT = [["a", "b"], ["c"], ["d", "e", "f"]]
BATCHES_TO_RUN = 5
# Union and narrow ops only.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    def rdds():
        return [sc.parallelize(b, 2) for b in INPUT]
    emit("one_at_a_time", ssc.queueStream(rdds(), oneAtATime=True))
    emit("all_at_once", ssc.queueStream(rdds(), oneAtATime=False))
    emit("all_at_once_glom", ssc.queueStream(rdds(), oneAtATime=False).glom())
    emit("default_rdd", ssc.queueStream(rdds(), True, sc.parallelize(["D1", "D2"], 2)))
    emit("all_default_rdd", ssc.queueStream(rdds(), False, sc.parallelize(["D"], 1)))
    emit("default_list", ssc.queueStream(rdds(), True, ["L1", "L2", "L3"]))
    emit("plain_lists_glom", ssc.queueStream([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]).glom())
    emit("empty_queue_default", ssc.queueStream([], True, sc.parallelize(["x", "y"], 2)))
