"""pprint: the default 10 records with "..." beyond, pprint(3), pairs,
strings, empty batches."""
INPUT = [list(range(12)), ["a", "b"], [], list(range(10)), [("k", 1), ("k2", [1, 2])]]
BATCHES_TO_RUN = 6
# Only stdout is compared; pprint prints take(n + 1), which is in partition order.
ORDER = "exact"


def build(ssc, sc, emit, workdir):
    s = ssc.queueStream([sc.parallelize(b, 2) for b in INPUT])
    s.pprint()
    s.pprint(3)
    s.map(lambda x: (x, str(x))).pprint(2)
