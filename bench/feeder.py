#!/usr/bin/env python3
"""TCP line server for the latency workload: feeds lines at a fixed rate.

    feeder.py --rate 50000 --seconds 10 --pre-delay 1.5

Listens on 127.0.0.1 (ephemeral port, printed as the first line of stdout),
accepts one connection, stays silent for ``--pre-delay`` seconds (the engine
runs empty batches meanwhile), then sends ``rate * seconds`` lines in ticks of
``--tick`` seconds, each tick anchored to the start time so the rate does not
drift. Every line is ``send_time_us,seq,uNNN``: the send time is taken right
before the tick's lines are written. Then it waits for the client to close
the connection (or ``--linger`` seconds) and exits; it prints how many lines
it sent.
"""
from __future__ import annotations

import argparse
import socket
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=50_000, help="lines per second")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--pre-delay", type=float, default=1.5)
    p.add_argument("--tick", type=float, default=0.005)
    p.add_argument("--linger", type=float, default=180.0)
    p.add_argument("--accept-timeout", type=float, default=180.0)
    args = p.parse_args()

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(args.accept_timeout)
    print(server.getsockname()[1], flush=True)
    try:
        conn, _ = server.accept()
    except socket.timeout:
        sys.exit(f"feeder: no client connected within {args.accept_timeout} s")
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    time.sleep(args.pre_delay)

    total = int(args.rate * args.seconds)
    per_tick = args.rate * args.tick
    start = time.time()
    sent, tick = 0, 0
    try:
        while sent < total:
            tick += 1
            due = start + tick * args.tick
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            n = min(total, int(tick * per_tick)) - sent
            ts = int(time.time() * 1e6)
            conn.sendall("".join(f"{ts},{seq},u{seq % 1000}\n" for seq in range(sent, sent + n)).encode())
            sent += n
    except (BrokenPipeError, ConnectionResetError) as e:
        sys.exit(f"feeder: client went away after {sent} of {total} lines: {e}")
    conn.settimeout(args.linger)
    try:
        while conn.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    conn.close()
    print(f"sent {sent}", flush=True)


if __name__ == "__main__":
    main()
