"""countByWindow: short windows (recomputed) and windows of >= 5 slides
(incremental), including windows with no data left in them."""
import os

INPUT = [["a", "b", "c"], ["d"], [], ["e", "f"], [], [], [], [], ["g"]]
BATCHES_TO_RUN = 12
# One record (or none) per batch.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    ssc.checkpoint(os.path.join(workdir, "checkpoint"))
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    emit("cbw_3_1", s.countByWindow(3, 1))
    emit("cbw_5_1", s.countByWindow(5, 1))
    emit("cbw_4_2", s.countByWindow(4, 2))
