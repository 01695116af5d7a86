"""saveAsTextFiles with and without a suffix: directory names, part files,
their contents (str of each record per line), empty batches."""
import os

INPUT = [["a", "b", "c"], [1, (2, "x"), u"\u00e9t\u00e9"], [], [None, 3.5]]
BATCHES_TO_RUN = 5  # the 5th batch is the empty RDD of the drained queue
# Files are compared by name and content; part files are in partition order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    out = os.path.join(workdir, "out")
    s.saveAsTextFiles(os.path.join(out, "plain"))
    s.map(lambda x: ("k", x)).saveAsTextFiles(os.path.join(out, "pairs"), "txt")
