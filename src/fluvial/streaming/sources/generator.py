"""A built-in source of synthetic tweets, for demos and tests.

:func:`tweet_stream` returns a DStream of tweet texts such as
``"@maya_k: Extra time! #WorldCup #football"``, produced by a
:class:`TweetReceiver` at a steady rate.

Guarantees:

* **Deterministic content.** The n-th tweet depends only on ``seed``, ``rate``
  and ``trend_period``: two runs with the same arguments produce the same
  sequence of tweets. Which batch a tweet lands in depends on wall-clock
  timing, as with any receiver.
* **Shifting trends.** Time is measured on the stream's own timeline (tweet
  ``n`` is at ``n / rate`` seconds). Every ``trend_period`` seconds a new topic
  starts trending: its share of tweets rises for one period, peaks, and falls
  for the next while the following topic rises. :meth:`TweetGenerator.trending_at`
  says which topics trend at a given moment.
* **Nothing lost or repeated.** Tweets are handed to the receiver in small
  blocks with ``storeAll``; a block that could not be stored is kept and
  stored first when the receiver is restarted, so a restarted receiver
  continues the sequence where it stopped. With ``limit`` the stream ends after
  that many tweets. Generation follows wall time, whatever the context's clock.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random
import threading
import time
from typing import TYPE_CHECKING, Iterator

from ...core.storage import StorageLevel
from .receiver import Receiver, ReceiverStoppedError

if TYPE_CHECKING:
    from ..context import StreamingContext
    from ..dstream import DStream

__all__ = ["TOPICS", "TweetGenerator", "TweetReceiver", "tweet_stream"]

# (primary hashtag, related hashtags, phrases). "{tag}" in a phrase is replaced
# by the primary hashtag, so hashtags appear inline as well as at the end.
TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("#WorldCup", ("#football", "#goal"), (
        "What a strike in the {tag} quarter-final", "Extra time again, my heart can't take this {tag}",
        "That penalty call was a joke", "Whole office watching the {tag} on one laptop")),
    ("#Python", ("#coding", "#100DaysOfCode"), (
        "Finally understood generators in {tag}", "Type hints saved me from a bug today",
        "Refactored 400 lines into 40 with {tag}", "pip install solved it, as always")),
    ("#ClimateAction", ("#climate", "#renewables"), (
        "Record heat again this week, {tag} now", "Our town just switched to solar buses",
        "Planted 200 trees with the school today", "The new report is sobering reading")),
    ("#Oscars", ("#movies", "#redcarpet"), (
        "That acceptance speech at the {tag} though", "Best picture went to the right film for once",
        "The {tag} host was on fire tonight", "Who styled that red carpet look?")),
    ("#AI", ("#MachineLearning", "#tech"), (
        "Tried the new model for code review, impressed", "Everyone at the meetup talked about {tag}",
        "Hot take: most {tag} demos are just good UX", "Benchmarks are not the product")),
    ("#MarathonDay", ("#running", "#fitness"), (
        "Mile 20 and my legs have left the chat", "Crossed the finish line, new personal best",
        "Cheering the runners at the corner with coffee", "Six months of training for this {tag}")),
    ("#Eclipse2024", ("#astronomy", "#space"), (
        "The sky went dark at noon, unreal", "Got my eclipse glasses ready for {tag}",
        "Clouds rolled in right at totality, of course", "Birds went quiet during {tag}")),
    ("#Election", ("#vote", "#politics"), (
        "Queue at the polling station is around the block", "Polls close in two hours, go {tag}",
        "Watching the {tag} results come in county by county", "First time voting today")),
    ("#NBAFinals", ("#basketball", "#NBA"), (
        "Game 7 buzzer beater, I am screaming", "Defense wins championships, {tag} proof",
        "That block in the fourth quarter", "Rewatched the last minute five times")),
    ("#FashionWeek", ("#style", "#runway"), (
        "Oversized coats are back at {tag}", "The closing look of the show was art",
        "Front row at {tag}, pinch me", "Sustainable fabrics everywhere this season")),
    ("#GameDev", ("#indiedev", "#gaming"), (
        "Shipped our first demo build on {tag} day", "Pixel art took longer than the code",
        "Playtesters found a bug in the tutorial", "Devlog 12: the boss fight is finally fun")),
    ("#Foodie", ("#recipe", "#brunch"), (
        "Homemade ramen, twelve hours of broth", "Tried the new taco place downtown, wow",
        "Sourdough attempt number 9 {tag}", "Best croissant in the city, fight me")),
    ("#Travel", ("#wanderlust", "#backpacking"), (
        "Night train across the Alps, no regrets", "Lost my luggage but found a great cafe",
        "Sunrise over the old harbour {tag}", "Two weeks, one backpack, zero plans")),
    ("#Crypto", ("#Bitcoin", "#blockchain"), (
        "Charts are doing that thing again", "Down 12% before breakfast {tag}",
        "Explaining {tag} to my grandmother, wish me luck", "HODL or fold, choose wisely")),
    ("#BookTok", ("#reading", "#books"), (
        "Finished it at 2am and I am not okay", "Library haul for the weekend {tag}",
        "The plot twist in chapter 30", "Annotating my favourite {tag} pick")),
    ("#Wimbledon", ("#tennis", "#CentreCourt"), (
        "Five-set thriller on {tag} centre court", "Strawberries and a tiebreak, perfect day",
        "That backhand down the line", "Rain delay at {tag} again")),
    ("#MondayMotivation", ("#goals", "#mindset"), (
        "Small steps still move you forward", "Coffee first, then conquer the week",
        "Your only competition is yesterday {tag}", "Started the morning with a run")),
    ("#SpaceX", ("#launch", "#rocket"), (
        "Watching the {tag} launch live from the beach", "Booster landing stuck again",
        "Countdown paused at T-40 seconds", "That plume at sunset {tag}")),
    ("#Coachella", ("#music", "#festival"), (
        "Headliner set was worth the dust", "Lost my friends at the main stage {tag}",
        "Surprise guest on stage at {tag}", "Desert sunsets and bass drops")),
    ("#OpenSource", ("#github", "#devcommunity"), (
        "Merged my first pull request today", "Maintainers deserve more thanks {tag}",
        "Wrote docs for a project I love", "Issue 1337 finally closed")),
    ("#Gardening", ("#plants", "#growyourown"), (
        "First tomatoes of the summer {tag}", "The slugs won this round",
        "Repotted the monstera, it is thriving", "Seed swap at the community garden")),
    ("#StockMarket", ("#investing", "#finance"), (
        "Rate decision day, everyone is nervous", "Tech stocks rallied after the open",
        "Index closed at a record {tag}", "Earnings season is here")),
    ("#Photography", ("#photooftheday", "#streetphotography"), (
        "Golden hour in the old town {tag}", "Shot this on a 50mm, no edits",
        "Fog over the bridge this morning", "Film photography is back")),
    ("#ChessOlympiad", ("#chess", "#grandmaster"), (
        "Queen sacrifice on move 23, brilliant", "Time scramble in the final round",
        "Underdog holds the draw at {tag}", "That endgame technique was textbook")),
)

CHATTER_TAGS = ("#tbt", "#love", "#weekend", "#mood", "#selfie", "#happy", "#nofilter", "#news")
CHATTER = ("Can't believe it's already Friday", "Who else is still awake", "Coffee number three",
           "Best day in a long time", "Traffic is wild today", "New profile pic", "Need a holiday",
           "This song has been stuck in my head all day")
_FIRST = ("maya", "leo", "sofia", "omar", "yuki", "lena", "arjun", "chloe", "diego", "amara", "noah",
          "ines", "kenji", "zoe", "mateo", "priya", "felix", "hana", "ivan", "nora")
_LAST = ("k", "dev", "runs", "eats", "codes", "travels", "reads", "io", "x", "99", "fan", "hq")


def _check_positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"tweet_stream: {name} must be a positive number, got {value!r}")
    return float(value)


class TweetGenerator:
    """The deterministic tweet sequence behind :func:`tweet_stream`.

    Iterating yields tweets forever; ``take(n)`` returns the next ``n``. Topic
    popularity has a fixed base (a skewed, seed-dependent ranking) plus the
    trend boost described in the module docstring."""

    def __init__(self, seed: int = 0, rate: float = 200.0, trend_period: float = 15.0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"tweet_stream: seed must be an integer, got {seed!r}")
        self.seed = seed
        self.rate = _check_positive(rate, "rate")
        self.trend_period = _check_positive(trend_period, "trend_period")
        self.position = 0
        layout = random.Random(f"fluvial-tweets-layout-{seed}")
        popularity = list(range(len(TOPICS)))
        layout.shuffle(popularity)
        self._base = [1.0 / (rank + 1) ** 0.7 for rank in popularity]
        self._trend_order = list(range(len(TOPICS)))
        layout.shuffle(self._trend_order)
        self._boost = 0.8 * sum(self._base)
        self._rng = random.Random(f"fluvial-tweets-{seed}")
        self._cum_weights: list[float] = []
        self._weights_step = -1

    def trending_at(self, seconds: float) -> list[str]:
        """Primary hashtags of the topics trending at ``seconds`` on the stream's
        timeline: the one rising, then the one fading (when there is one)."""
        epoch = int(seconds // self.trend_period)
        rising = TOPICS[self._trend_order[epoch % len(TOPICS)]][0]
        if epoch == 0:
            return [rising]
        return [rising, TOPICS[self._trend_order[(epoch - 1) % len(TOPICS)]][0]]

    def _weights_at(self, seconds: float) -> list[float]:
        weights = list(self._base)
        x = seconds / self.trend_period
        epoch = int(x)
        phase = x - epoch  # the rising topic has sin^2, the fading one cos^2: their sum stays constant
        weights[self._trend_order[epoch % len(TOPICS)]] += self._boost * math.sin(phase * math.pi / 2) ** 2
        if epoch > 0:
            weights[self._trend_order[(epoch - 1) % len(TOPICS)]] += \
                self._boost * math.cos(phase * math.pi / 2) ** 2
        return weights

    def _topic(self) -> int:
        seconds = self.position / self.rate
        step = int(seconds * 4)  # popularity is re-evaluated every quarter second of stream time
        if step != self._weights_step:
            self._cum_weights = list(itertools.accumulate(self._weights_at(step / 4)))
            self._weights_step = step
        total = self._cum_weights[-1]
        return bisect.bisect_right(self._cum_weights, self._rng.random() * total)

    def _user(self) -> str:
        rng = self._rng
        return f"@{rng.choice(_FIRST)}_{rng.choice(_LAST)}"

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        rng = self._rng
        user = self._user()
        if rng.random() < 0.12:
            text = rng.choice(CHATTER)
            if rng.random() < 0.6:
                text += " " + rng.choice(CHATTER_TAGS)
        else:
            tag, related, phrases = TOPICS[self._topic()]
            phrase = rng.choice(phrases)
            tags = [r for r in related if rng.random() < 0.35]
            if "{tag}" in phrase:
                text = phrase.replace("{tag}", tag)
            else:
                text = phrase
                tags.insert(0, tag)
            if rng.random() < 0.15:
                tags.append(rng.choice(CHATTER_TAGS))
            if tags:
                text += " " + " ".join(tags)
        self.position += 1
        return f"{user}: {text}"

    def take(self, n: int) -> list[str]:
        """The next ``n`` tweets of the sequence."""
        return [next(self) for _ in range(n)]


class TweetReceiver(Receiver):
    """Stores tweets from a :class:`TweetGenerator` at ``rate`` tweets per second.

    A background thread wakes every ``tick`` seconds and stores, as one block,
    the tweets due by then; after ``limit`` tweets (if given) it stores no more.
    ``spark.streaming.receiver.maxRate`` can only slow it down."""

    _transient = ("_stop", "_thread")

    def __init__(self, rate: float = 200.0, seed: int = 0, trend_period: float = 15.0,
                 limit: int | None = None, tick: float = 0.05,
                 storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> None:  # type: ignore[attr-defined]
        super().__init__(storageLevel)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"tweet_stream: limit must be None or a non-negative integer, got {limit!r}")
        self.generator = TweetGenerator(seed, rate, trend_period)
        self.limit = limit
        self.tick = _check_positive(tick, "tick")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: list[str] = []

    def onStart(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(self._stop,), daemon=True,
                                        name=f"fluvial-tweets-{self.streamId}")
        self._thread.start()

    def onStop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def _produce(self, stop: threading.Event) -> None:
        gen = self.generator
        started = time.monotonic()
        offset = gen.position  # a restarted receiver continues the sequence at the same rate
        while True:
            due = offset + int((time.monotonic() - started) * gen.rate)
            if self.limit is not None:
                due = min(due, self.limit)
            if due > gen.position:
                self._pending.extend(gen.take(due - gen.position))
            if self._pending:
                try:
                    self.storeAll(self._pending)
                except ReceiverStoppedError:
                    return  # the stream stopped: these tweets were not stored, and never will be
                except Exception as exc:  # noqa: BLE001 - kept, and stored first after the restart
                    self.restart("tweet generator could not store a block", exc)
                    return
                self._pending = []
            if self.limit is not None and gen.position >= self.limit:
                return
            if stop.wait(self.tick):
                return


def tweet_stream(ssc: "StreamingContext", rate: float = 200.0, seed: int = 0, trend_period: float = 15.0,
                 limit: int | None = None) -> "DStream":
    """A DStream of synthetic tweets (strings) arriving at ``rate`` per second.

    The same ``seed``, ``rate`` and ``trend_period`` give the same tweets in the
    same order (see the module docstring); ``limit`` ends the stream after that
    many tweets."""
    return ssc.receiverStream(TweetReceiver(rate=rate, seed=seed, trend_period=trend_period, limit=limit))
