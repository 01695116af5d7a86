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
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from crash_driver import batch_files, parse_args, run, wal_context  # noqa: E402

from fluvial.streaming.sources.receiver import Receiver  # noqa: E402


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


def main() -> None:
    args = parse_args()

    def setup():
        ssc = wal_context(args, "acking-receiver")
        ssc.receiverStream(AckingReceiver(args.port)).foreachRDD(batch_files(args.output, lambda rdd: rdd.collect()))
        return ssc

    run(args, setup)


if __name__ == "__main__":
    main()
