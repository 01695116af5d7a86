"""Events/s through FlumeUtils.createStream into a counting DStream.

    python bench/flume_bench.py [--events 500000] [--clients 2] [--batch 100] [--body 100]

avsc clients (tests/flume/avsc_peers/avro_sink.js, playing Flume's AvroSink:
one appendBatch call at a time per connection) push ``--events`` events of
``--body``-byte bodies in calls of ``--batch`` events to a push stream whose
``count()`` is summed per batch (1 s batches, ``local[2]``); measured from
the clients' start until every event is counted. Runs without and with the
receiver write-ahead log, next to the same clients sending to an avsc server
that answers OK and keeps nothing (the peer's send rate alone). Needs node
and ``npm ci --prefix tests/flume``. ``FLUVIAL_EXECUTOR=inprocess`` runs tasks in
the driver instead of worker processes.

Measured on the project's 2-core machine (2026-11-25, shared with other
work; the clients share the two cores with fluvial), 200,000-500,000 events:
push stream 41,000-55,000 events/s without the write-ahead log and
23,000-34,000 with it; the same avsc clients alone 91,000-122,000 events/s.
The 200,000 events/s target is not met: the receiver's time goes mostly to
decoding the Avro events (fastavro, ~5.5 us per event with two headers on
this machine), on one core (one interpreter) whatever the number of
connections.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SINK = ROOT / "tests" / "flume" / "avsc_peers" / "avro_sink.js"
NULL_SOURCE = ROOT / "bench" / "flume_null_source.js"
NODE_ENV = {**os.environ, "NODE_PATH": str(ROOT / "tests" / "flume" / "node_modules")}


def run_clients(port: int, clients: int, events: int, batch: int, body: int) -> list[subprocess.Popen]:
    calls = events // clients // batch
    return [subprocess.Popen(["node", str(SINK), "127.0.0.1", str(port), str(calls), str(batch), "--quiet",
                              "--body-bytes", str(body)], stdout=subprocess.PIPE, text=True, env=NODE_ENV)
            for _ in range(clients)]


def wait_clients(procs: list[subprocess.Popen]) -> int:
    sent = 0
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"avro_sink.js failed with status {p.returncode}")
        sent += json.loads(out.strip().splitlines()[-1])["events"]
    return sent


def peer_alone(args: argparse.Namespace) -> float:
    server = subprocess.Popen(["node", str(NULL_SOURCE)], stdout=subprocess.PIPE, text=True, env=NODE_ENV)
    try:
        port = json.loads(server.stdout.readline())["port"]
        start = time.perf_counter()
        sent = wait_clients(run_clients(port, args.clients, args.events, args.batch, args.body))
        return sent / (time.perf_counter() - start)
    finally:
        server.kill()
        server.wait()


def through_fluvial(args: argparse.Namespace, wal: bool) -> float:
    from fluvial import SparkConf, SparkContext
    from fluvial.streaming import StreamingContext
    from fluvial.streaming.flume import FlumeUtils

    conf = SparkConf().setMaster("local[2]").setAppName("flume-bench")
    conf.set("spark.streaming.blockQueueSize", "1000")
    conf.set("spark.fluvial.executor", os.environ.get("FLUVIAL_EXECUTOR", "processes"))
    if wal:
        conf.set("spark.streaming.receiver.writeAheadLog.enable", "true")
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, 1)
    tmp = tempfile.TemporaryDirectory(prefix="flume-bench-")
    if wal:
        ssc.checkpoint(tmp.name)
    stream = FlumeUtils.createStream(ssc, "127.0.0.1", 0, maxConnections=64)
    from fluvial.testing import ListSink
    expected = args.events // args.clients // args.batch * args.batch * args.clients + args.clients
    counts = ListSink(stream.count())     # pickles as a reference: fine in a metadata checkpoint
    ssc.start()
    receiver = stream.getReceiver()
    while receiver.boundAddress is None:
        time.sleep(0.01)
    try:
        start = time.perf_counter()
        sent = wait_clients(run_clients(receiver.boundAddress[1], args.clients, args.events, args.batch, args.body))
        deadline = time.monotonic() + 120
        while sum(sum(b) for b in counts.batches) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {sum(sum(b) for b in counts.batches)} of {sent} events counted after 120 s")
            time.sleep(0.002)
        return expected / (time.perf_counter() - start)
    finally:
        ssc.stop(stopSparkContext=True, stopGraceFully=False)
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--body", type=int, default=100)
    args = ap.parse_args()
    print(f"{args.events} events, {args.body}-byte bodies, appendBatch of {args.batch}, {args.clients} avsc "
          f"client(s), local[2], {os.cpu_count()} cores", flush=True)
    print(f"peer alone (avsc client -> avsc server answering OK): {peer_alone(args):12,.0f} events/s", flush=True)
    print(f"fluvial push stream, no write-ahead log:               {through_fluvial(args, False):12,.0f} events/s",
          flush=True)
    print(f"fluvial push stream, write-ahead log:                  {through_fluvial(args, True):12,.0f} events/s",
          flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
