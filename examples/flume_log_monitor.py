"""Web-server access logs arriving from Flume: error rate and top URLs per
host over a sliding window.

    python examples/flume_log_monitor.py                       # demo: feeds itself simulated log events
    python examples/flume_log_monitor.py --listen 0.0.0.0:41414   # a Flume agent's avro sink sends here
    python examples/flume_log_monitor.py --poll agent1:9999,agent2:9999   # poll Flume SparkSinks

Each event's body is an access-log line in the common log format
(``1.2.3.4 - - [date] "GET /path HTTP/1.1" 503 512``) and its ``host``
header names the web server (Flume's ``host`` interceptor sets it). Every
``--slide`` seconds the program prints, per host, the requests and the share
of 5xx answers in the last ``--window`` seconds, and its three most requested
URLs. Lines that do not parse are counted per batch and left out. In the
demo, a thread plays a Flume AvroSink (Avro RPC, ``appendBatch`` of 50
events) sending lines of three hosts. See docs/flume.md for the agent
configuration of each mode. Stop with Ctrl-C, or pass ``--seconds N``.
"""
from __future__ import annotations

import argparse
import random
import re
import threading
import time
from operator import add

from example_runner import run

from fluvial import SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.flume import FlumeUtils

LINE = re.compile(r'^(\S+) \S+ \S+ \[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-)')


def parse(event):
    """(host, url, is_5xx) of one event, or None if its body is no access-log line."""
    headers, line = event
    m = LINE.match(line or "")
    if m is None:
        return None
    return headers.get("host", "unknown"), m.group(3), int(m.group(4)) >= 500


def feed(receiver, stop: threading.Event) -> None:
    """Play a Flume AvroSink: batches of 50 log lines of three hosts, over Avro RPC."""
    from fluvial.streaming.flume.ipc import AVRO_SOURCE_PROTOCOL, Protocol
    from fluvial.streaming.flume.netty import FrameLimits
    from fluvial.streaming.flume.poll import AvroNettyClient

    while receiver.boundAddress is None:          # the stream's server listens once the context started
        if stop.wait(0.01):
            return
    host, port = receiver.boundAddress
    print(f"Demo: a simulated Flume AvroSink sends to {host}:{port}")
    client = AvroNettyClient(host, port, FrameLimits(), Protocol(AVRO_SOURCE_PROTOCOL))
    rng = random.Random(7)
    urls = ["/", "/index.html", "/search", "/cart", "/checkout", "/api/items", "/static/app.js"]
    error_rate = {"web1": 0.01, "web2": 0.05, "web3": 0.25}       # web3 is having a bad day
    while not stop.wait(0.1):
        events = []
        for _ in range(50):
            host = rng.choice(list(error_rate))
            status = 503 if rng.random() < error_rate[host] else 200
            url = rng.choices(urls, weights=[8, 3, 5, 2, 1, 6, 4])[0]
            when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
            line = f'10.0.{rng.randrange(256)}.{rng.randrange(256)} - - [{when}] "GET {url} HTTP/1.1" {status} 512'
            events.append({"headers": {"host": host}, "body": line.encode()})
        if rng.random() < 0.05:
            events.append({"headers": {"host": "web1"}, "body": b"not an access log line"})
        try:
            if client.call("appendBatch", {"events": events}) != "OK":
                print("demo feeder: batch answered FAILED; sending it again")
        except OSError:
            if stop.is_set():
                return
            client.close()
            stop.wait(0.5)


def report(t, rdd) -> None:
    rows = sorted(rdd.collect())
    print(f"-- window ending {t:%H:%M:%S} " + "-" * 40)
    for host, ((requests, errors), top) in rows:
        urls = ", ".join(f"{url} ({n})" for url, n in top)
        print(f"{host:<10} {requests:>6} requests  {100.0 * errors / requests:5.1f}% 5xx  top: {urls}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--listen", metavar="HOST:PORT", help="run the Avro server a Flume avro sink sends to")
    mode.add_argument("--poll", metavar="HOST:PORT,...", help="poll these Flume SparkSinks")
    ap.add_argument("--window", type=int, default=30, help="window length in seconds (default 30)")
    ap.add_argument("--slide", type=int, default=5, help="seconds between reports (default 5)")
    ap.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = ap.parse_args()

    sc = SparkContext("local[2]", "FlumeLogMonitor")
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, 1)
    demo = args.listen is None and args.poll is None
    if args.poll:
        addresses = [(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in args.poll.split(",")]
        events = FlumeUtils.createPollingStream(ssc, addresses)
    else:
        host, port = (args.listen or "127.0.0.1:0").rsplit(":", 1)
        events = FlumeUtils.createStream(ssc, host, int(port))

    parsed = events.map(parse)
    parsed.filter(lambda p: p is None).count().filter(lambda n: n > 0).foreachRDD(
        lambda t, rdd: [print(f"batch {t:%H:%M:%S}: {n} events that are not access-log lines left out")
                        for n in rdd.collect()])
    hits = parsed.filter(lambda p: p is not None).cache()
    stats = hits.map(lambda p: (p[0], (1, int(p[2])))).reduceByKeyAndWindow(
        lambda a, b: (a[0] + b[0], a[1] + b[1]), None, args.window, args.slide)
    top = (hits.map(lambda p: ((p[0], p[1]), 1)).reduceByKeyAndWindow(add, None, args.window, args.slide)
           .map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
           .groupByKey()
           .mapValues(lambda urls: sorted(urls, key=lambda u: (-u[1], u[0]))[:3]))
    stats.join(top).foreachRDD(report)

    stop_feeding = threading.Event()
    if demo:
        threading.Thread(target=feed, args=(events.getReceiver(), stop_feeding), daemon=True).start()
    try:
        run(ssc, args.seconds)
    finally:
        stop_feeding.set()


if __name__ == "__main__":
    main()
