"""The built-in tweet source: deterministic content, shifting trends, nothing lost."""
from __future__ import annotations

import math
import re
import threading
from collections import Counter

import pytest

from fluvial.streaming import StreamingContext
from fluvial.streaming.sources.generator import TOPICS, TweetGenerator, TweetReceiver, tweet_stream
from fluvial.testing import ListSink, ManualClock

HASHTAG = re.compile(r"#\w+")


def test_same_seed_gives_the_same_tweets_and_another_seed_does_not():
    assert TweetGenerator(seed=7).take(500) == TweetGenerator(seed=7).take(500)
    assert TweetGenerator(seed=7).take(500) != TweetGenerator(seed=8).take(500)


def test_tweets_look_like_tweets_with_hashtags():
    tweets = TweetGenerator(seed=1).take(1000)
    assert all(re.match(r"^@\w+: \S", t) for t in tweets)
    with_tags = [t for t in tweets if HASHTAG.search(t)]
    assert len(with_tags) > 0.8 * len(tweets)
    primaries = {tag for tag, _, _ in TOPICS}
    assert len(primaries & {h for t in tweets for h in HASHTAG.findall(t)}) > len(TOPICS) // 2


def test_each_trending_topic_leads_the_hashtags_at_its_peak():
    period, rate = 10.0, 100
    gen = TweetGenerator(seed=3, rate=rate, trend_period=period)
    tweets = gen.take(int(6 * period * rate))
    leaders = []
    for epoch in range(5):  # the topic rising in epoch e peaks at the end of it
        peak = (epoch + 1) * period
        window = tweets[int((peak - 2) * rate):int((peak + 2) * rate)]
        counts = Counter(h for t in window for h in HASHTAG.findall(t))
        leader = counts.most_common(1)[0][0]
        assert leader == gen.trending_at(peak - 0.1)[0]
        leaders.append(leader)
    assert len(set(leaders)) == 5  # the trend really moves on


@pytest.mark.parametrize("kwargs, word", [
    ({"rate": 0}, "rate"), ({"rate": math.nan}, "rate"), ({"trend_period": -1}, "trend_period"),
    ({"seed": "abc"}, "seed"), ({"limit": -5}, "limit"), ({"limit": 2.5}, "limit"),
])
def test_bad_arguments_are_rejected_naming_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TweetReceiver(**kwargs)


class _SignallingReceiver(TweetReceiver):
    """Sets ``all_stored`` once ``limit`` tweets have been stored."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stored = 0
        self.all_stored = threading.Event()

    def storeAll(self, items):
        items = list(items)
        super().storeAll(items)
        self.stored += len(items)
        if self.stored >= self.limit:
            self.all_stored.set()


def test_receiver_stores_exactly_the_generated_sequence_in_order(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    receiver = _SignallingReceiver(rate=1_000_000, seed=5, limit=400)
    sink = ListSink(ssc.receiverStream(receiver).map(lambda t: t.upper()))
    ssc.start()
    try:
        assert receiver.all_stored.wait(10)
        ssc.clock.advance(1)
        assert sink.records == [t.upper() for t in TweetGenerator(seed=5, rate=1_000_000).take(400)]
    finally:
        ssc.stop(stopSparkContext=False)


def test_tweet_stream_is_a_dstream_of_the_context(sc):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    try:
        stream = tweet_stream(ssc, rate=50, seed=1)
        assert stream.context() is ssc
        assert isinstance(stream.getReceiver(), TweetReceiver)
    finally:
        ssc.stop(stopSparkContext=False)
