"""window(): slide = batch and slide = 2 batches, records and partition layout."""
INPUT = [["a", "b"], ["c"], [], ["d", "e", "f"], ["g"], [], ["h", "i"]]
BATCHES_TO_RUN = 9
# A window is the union of its batches in time order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("window3", s.window(3))
    emit("window3_1", s.window(3, 1))
    emit("window4_2", s.window(4, 2))
    emit("window2_2_glom", s.window(2, 2).glom())
    emit("window3_count", s.window(3).count())
