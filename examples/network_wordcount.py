r"""Counts words in UTF-8 encoded, '\n' delimited text received from the network every second.

Usage: network_wordcount.py <hostname> <port> [--seconds N]
  <hostname> and <port> describe the TCP server that fluvial connects to for text.
  --seconds N stops the program gracefully after N seconds (default: run until Ctrl-C).

To run this on your local machine, first start a server that accepts connections and sends lines:
    $ nc -lk 9999
and then run the example
    $ python examples/network_wordcount.py localhost 9999
"""
import argparse

from fluvial import SparkContext
from fluvial.streaming import StreamingContext

from example_runner import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Word count over text read from a TCP socket.")
    parser.add_argument("hostname")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, help="stop gracefully after this many seconds")
    args = parser.parse_args()

    sc = SparkContext("local[2]", "PythonStreamingNetworkWordCount")
    ssc = StreamingContext(sc, 1)

    lines = ssc.socketTextStream(args.hostname, args.port)
    counts = lines.flatMap(lambda line: line.split(" ")) \
        .map(lambda word: (word, 1)) \
        .reduceByKey(lambda a, b: a + b)
    counts.pprint()

    run(ssc, args.seconds)
