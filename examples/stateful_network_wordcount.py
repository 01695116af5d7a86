r"""Running word counts, over the whole stream, of UTF-8 encoded, '\n' delimited text
received from the network; the counts so far are printed every second.

Usage: stateful_network_wordcount.py <hostname> <port> [--seconds N]
  <hostname> and <port> describe the TCP server that fluvial connects to for text.
  --seconds N stops the program gracefully after N seconds (default: run until Ctrl-C).

To run this on your local machine, first start a server that accepts connections and sends lines:
    $ nc -lk 9999
and then run the example
    $ python examples/stateful_network_wordcount.py localhost 9999
"""
import argparse
import tempfile

from fluvial import SparkContext
from fluvial.streaming import StreamingContext

from example_runner import run


def update_func(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Running word counts over text read from a TCP socket.")
    parser.add_argument("hostname")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, help="stop gracefully after this many seconds")
    args = parser.parse_args()

    sc = SparkContext("local[2]", "PythonStreamingStatefulNetworkWordCount")
    ssc = StreamingContext(sc, 1)
    checkpoint_dir = tempfile.TemporaryDirectory(prefix="stateful-wordcount-")
    ssc.checkpoint(checkpoint_dir.name)  # updateStateByKey checkpoints its state periodically

    # RDD with initial state (key, value) pairs
    initial_state = sc.parallelize([("hello", 1), ("world", 1)])

    lines = ssc.socketTextStream(args.hostname, args.port)
    running_counts = lines.flatMap(lambda line: line.split(" ")) \
        .map(lambda word: (word, 1)) \
        .updateStateByKey(update_func, initialRDD=initial_state)
    running_counts.pprint()

    try:
        run(ssc, args.seconds)
    finally:
        checkpoint_dir.cleanup()
