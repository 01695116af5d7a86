"""The DStream graph of one context: its input streams and output operations."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Job:
    """One output operation of one batch. ``output_op_id`` numbers the
    batch's jobs from 0 in declaration order (as Spark's JobSet does)."""

    time: int
    output_op_id: int
    name: str
    description: str
    run: Callable[[], Any]


class GenerateError(Exception):
    """Computing a batch's RDDs failed; ``operation`` names the output
    operation whose RDDs were being computed."""

    def __init__(self, operation: str, cause: BaseException) -> None:
        super().__init__(operation)
        self.operation = operation
        self.cause = cause


class DStreamGraph:
    """Input streams, output streams and, once started, every stream between.

    The scheduler holds ``lock`` while it generates a batch, while it has
    batches forgotten and while it pickles the graph into a metadata
    checkpoint, so a checkpoint always sees the streams between two of those
    steps."""

    def __init__(self, batch_ms: int) -> None:
        self.batch_ms = batch_ms
        self.input_streams: list[Any] = []
        self.output_streams: list[Any] = []
        self.zero_ms: int | None = None
        self.remember_ms: int | None = None
        self.streams: list[Any] = []
        self._lock = threading.Lock()
        self.lock = threading.RLock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_lock"], state["lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self.lock = threading.RLock()

    def all_streams(self) -> list[Any]:
        """Every stream of the graph, each once, in a stable order: those the
        output operations use (ancestors after their children), then input
        streams that no output uses."""
        seen = {id(s) for s in self.streams}
        return self.streams + [s for s in self.input_streams if id(s) not in seen]

    def add_input_stream(self, stream: Any) -> int:
        with self._lock:
            self.input_streams.append(stream)
            return len(self.input_streams) - 1

    def add_output_stream(self, stream: Any) -> None:
        with self._lock:
            self.output_streams.append(stream)

    def remember(self, duration_ms: int) -> None:
        with self._lock:
            if self.remember_ms is not None:
                raise ValueError(f"Remember duration already set as {self.remember_ms} ms. "
                                 "Cannot set it again.")
            self.remember_ms = duration_ms

    def validate(self) -> None:
        if not self.output_streams:
            raise ValueError("No output operations registered, so nothing to execute: add one with "
                             "foreachRDD, pprint or saveAsTextFiles before start()")

    def start(self, zero_ms: int) -> None:
        """Fix the zero time and remember durations of every stream, check
        them (Spark's validateAtStart), then start the input streams."""
        self.zero_ms = zero_ms
        seen: dict[int, Any] = {}
        for out in self.output_streams:
            for s in out._all_streams():
                seen.setdefault(id(s), s)
        self.streams = list(seen.values())
        for s in self.output_streams:
            s._initialize(zero_ms)
        for s in self.output_streams:
            s._remember(self.remember_ms)
        for s in self.streams:
            s._validate()
        for s in self.input_streams:
            s.start()

    def stop(self) -> None:
        for s in self.input_streams:
            s.stop()

    def generate_jobs(self, t: int) -> list[Job]:
        """Compute the RDDs of batch ``t`` and one job per output operation
        that has an RDD then; raises :class:`GenerateError`."""
        jobs: list[Job] = []
        for out in self.output_streams:
            try:
                run = out._job_for(t)
            except BaseException as exc:  # noqa: BLE001 - re-raised with the operation's name
                raise GenerateError(f"generating the RDDs of {out.name}", exc) from exc
            if run is not None:
                jobs.append(Job(t, len(jobs), out.name, out.description, run))
        return jobs

    def clear_metadata(self, t: int) -> None:
        """Batch ``t`` is done: every stream forgets what it no longer needs."""
        for s in self.streams:
            s._clear_metadata(t)
