"""Creates a queue of RDDs that are mapped and reduced one at a time, in 1 second batches.

Usage: queue_stream.py [--seconds N]
  Runs for 6 seconds (N with --seconds), then stops gracefully.

    $ python examples/queue_stream.py
"""
import argparse
import time

from fluvial import SparkContext
from fluvial.streaming import StreamingContext

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Word count over a queue of RDDs.")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to run (default 6)")
    args = parser.parse_args()

    sc = SparkContext("local[2]", "PythonStreamingQueueStream")
    ssc = StreamingContext(sc, 1)

    # The queue of RDDs the QueueInputDStream takes one batch from every second
    rdd_queue = []
    for i in range(5):
        rdd_queue += [ssc.sparkContext.parallelize([j for j in range(1, 1001)], 10)]

    input_stream = ssc.queueStream(rdd_queue)
    mapped_stream = input_stream.map(lambda x: (x % 10, 1))
    reduced_stream = mapped_stream.reduceByKey(lambda a, b: a + b)
    reduced_stream.pprint()

    ssc.start()
    time.sleep(args.seconds)
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
