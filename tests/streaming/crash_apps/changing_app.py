"""A recoverable program whose code a test changes between runs (test_program_change.py).

    python changing_app.py CHECKPOINT INPUT OUTPUT END_SECONDS

Its per-record function comes from the module ``ops`` beside it (pickled by
reference in checkpoints), so a change to ``ops.py`` changes the graph
without changing this script.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ops  # noqa: E402

from fluvial import SparkConf, SparkContext  # noqa: E402
from fluvial.streaming import StreamingContext  # noqa: E402


def main() -> None:
    checkpoint, inp, out, end = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def setup() -> StreamingContext:
        conf = SparkConf().setMaster("local").setAppName("changing").set("spark.streaming.clock", "manual")
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        counts = ssc.textFileStream(inp).flatMap(ops.words).map(lambda w: (w, 1))
        counts.updateStateByKey(lambda vs, s: sum(vs) + (s or 0)).saveAsTextFiles(out)
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint, setup)
    ssc.start()
    while ssc.clock.time_ms() < end * 1000:
        ssc.clock.advance(1)
    ssc.stop()


if __name__ == "__main__":
    main()
