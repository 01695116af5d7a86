"""A recoverable program with a reliable receiver, for crash tests (run as a subprocess).

    python acking_receiver.py CHECKPOINT OUTPUT PORT TOTAL [--master M]

The receiver connects to the test's server on 127.0.0.1:PORT, which sends
numbered records as lines of space-separated integers (one chunk per line).
Each line becomes one block with ``storeAll``; once ``storeAll`` returns (the
block is in the write-ahead log) the receiver acknowledges it with
``ACK <last number>``. The server resends unacknowledged records when the
receiver reconnects.

Each batch's records go to ``OUTPUT/<batch time>.txt`` (temp file + rename),
so a batch run again after a crash rewrites the same file. The context runs
on a manual clock that this program advances itself until the output holds
all TOTAL records; after a crash it is recovered with getOrCreate.
"""
import argparse
import os
import socket
import sys
import threading
import time

from fluvial import SparkConf, SparkContext
from fluvial.streaming import StreamingContext
from fluvial.streaming.sources.receiver import Receiver


class AckingReceiver(Receiver):
    _transient = ("_sock", "_thread")

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self._sock = None
        self._thread = None

    def onStart(self) -> None:
        self._sock = socket.create_connection(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._run, args=(self._sock,), daemon=True)
        self._thread.start()

    def onStop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _run(self, sock: socket.socket) -> None:
        lines = sock.makefile("rb")
        try:
            for line in lines:
                records = [int(x) for x in line.split()]
                if not records:
                    continue
                self.storeAll(records)
                sock.sendall(f"ACK {records[-1]}\n".encode())
        except OSError as exc:
            if self._sock is sock:
                self.restart(f"connection to 127.0.0.1:{self.port} failed", exc)
            return
        except Exception as exc:  # noqa: BLE001 - the stream stopped: nothing more is stored or acknowledged
            print(f"receiver stopped storing: {exc}", file=sys.stderr)
            return
        if self._sock is sock:
            self.restart(f"127.0.0.1:{self.port} closed the connection")


def read_output(directory: str) -> dict[str, list[int]]:
    out = {}
    for name in os.listdir(directory):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name)) as f:
                out[name] = [int(x) for x in f.read().split()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("port", type=int)
    ap.add_argument("total", type=int)
    ap.add_argument("--master", default="local")
    args = ap.parse_args()
    output = args.output

    def setup() -> StreamingContext:
        conf = (SparkConf().setMaster(args.master).setAppName("acking-receiver")
                .set("spark.streaming.clock", "manual")
                .set("spark.streaming.receiver.writeAheadLog.enable", "true")
                .set("spark.streaming.receiver.writeAheadLog.rollingIntervalSecs", "5")
                .set("spark.streaming.receiverRestartDelay", "50ms"))
        ssc = StreamingContext(SparkContext(conf=conf), 1)
        ssc.checkpoint(args.checkpoint)

        def save(t, rdd):
            records = rdd.collect()
            if not records:
                return
            ms = int(t.timestamp() * 1000)
            tmp = os.path.join(output, f".{ms}.tmp")
            with open(tmp, "w") as f:
                f.write("".join(f"{r}\n" for r in records))
            os.replace(tmp, os.path.join(output, f"{ms:09d}.txt"))

        ssc.receiverStream(AckingReceiver(args.port)).foreachRDD(save)
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    ssc.start()
    clock = ssc.clock
    deadline = time.monotonic() + 60
    while len({r for rs in read_output(output).values() for r in rs}) < args.total:
        if time.monotonic() > deadline:
            ssc.stop(stopGraceFully=False)
            sys.exit("timed out before the output held every record")
        time.sleep(0.005)   # let records arrive: one batch per step of the manual clock
        clock.advance(1)
    ssc.stop(stopGraceFully=True)


if __name__ == "__main__":
    main()
