r"""Joins a stream with a static RDD: the happiest words in UTF-8 encoded, '\n' delimited
text received from the network, every 2 seconds.

Each batch's word counts are joined, inside transform(), with a static RDD of word
sentiment scores (-5 to +5, in the spirit of the AFINN list); a word's happiness is its
count times its score, and the batch's scored words are printed happiest first.

Usage: join_static.py <hostname> <port> [--seconds N]
  <hostname> and <port> describe the TCP server that fluvial connects to for text.
  --seconds N stops the program gracefully after N seconds (default: run until Ctrl-C).

To run this on your local machine, first start a server that accepts connections and sends lines:
    $ nc -lk 9999
and then run the example
    $ python examples/join_static.py localhost 9999
"""
import argparse

from fluvial import SparkContext
from fluvial.streaming import StreamingContext

from example_runner import run

WORD_SENTIMENTS = [
    ("love", 3), ("great", 3), ("happy", 3), ("wonderful", 4), ("superb", 5), ("good", 3), ("fun", 4),
    ("win", 4), ("nice", 3), ("thanks", 2), ("like", 2), ("calm", 2), ("hope", 2), ("ok", 0),
    ("bad", -3), ("sad", -2), ("angry", -3), ("awful", -3), ("hate", -3), ("lose", -3), ("boring", -3),
    ("terrible", -3), ("worst", -3), ("tired", -2), ("late", -1), ("rain", -1),
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Join a word-count stream with a static RDD.")
    parser.add_argument("hostname")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, help="stop gracefully after this many seconds")
    args = parser.parse_args()

    sc = SparkContext("local[2]", "PythonStreamingJoinStatic")
    ssc = StreamingContext(sc, 2)

    # The static RDD: (word, sentiment score)
    word_sentiments = sc.parallelize(WORD_SENTIMENTS).cache()

    lines = ssc.socketTextStream(args.hostname, args.port)
    word_counts = lines.flatMap(lambda line: line.lower().split(" ")) \
        .map(lambda word: (word, 1)) \
        .reduceByKey(lambda a, b: a + b)

    # join with the static RDD inside transform(), then score and sort each batch
    happiest_words = word_counts \
        .transform(lambda rdd: word_sentiments.join(rdd)) \
        .map(lambda word_score_count: (word_score_count[0],
                                       word_score_count[1][0] * word_score_count[1][1])) \
        .transform(lambda rdd: rdd.sortBy(lambda word_happiness: (-word_happiness[1], word_happiness[0])))
    happiest_words.pprint()

    run(ssc, args.seconds)
