"""Counts words in new text files created in the given directory, every second.

Usage: file_wordcount.py <directory> [--seconds N]
  <directory> is the directory fluvial watches for new text files.
  --seconds N stops the program gracefully after N seconds (default: run until Ctrl-C).

Files must appear in the directory atomically (written elsewhere, then moved in) after
the program has started; files already there are ignored. For example:
    $ python examples/file_wordcount.py /tmp/incoming
and in another terminal
    $ echo "to be or not to be" > /tmp/poem.txt && mv /tmp/poem.txt /tmp/incoming/
"""
import argparse

from fluvial import SparkContext
from fluvial.streaming import StreamingContext

from example_runner import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Word count over new files in a directory.")
    parser.add_argument("directory")
    parser.add_argument("--seconds", type=float, help="stop gracefully after this many seconds")
    args = parser.parse_args()

    sc = SparkContext("local[2]", "PythonStreamingFileWordCount")
    ssc = StreamingContext(sc, 1)

    lines = ssc.textFileStream(args.directory)
    counts = lines.flatMap(lambda line: line.split(" ")) \
        .map(lambda x: (x, 1)) \
        .reduceByKey(lambda a, b: a + b)
    counts.pprint()

    run(ssc, args.seconds)
