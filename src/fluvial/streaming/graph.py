"""The DStream graph of one context: its input streams and output operations."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Job:
    """One output operation of one batch."""

    time: int
    output_op_id: int
    name: str
    description: str
    run: Callable[[], Any]


class DStreamGraph:
    def __init__(self, batch_ms: int) -> None:
        self.batch_ms = batch_ms
        self.input_streams: list[Any] = []
        self.output_streams: list[Any] = []
        self.zero_ms: int | None = None
        self.remember_ms: int | None = None
        self._lock = threading.Lock()

    def add_input_stream(self, stream: Any) -> int:
        with self._lock:
            self.input_streams.append(stream)
            return len(self.input_streams) - 1

    def add_output_stream(self, stream: Any) -> None:
        with self._lock:
            self.output_streams.append(stream)

    def validate(self) -> None:
        if not self.output_streams:
            raise ValueError("No output operations registered, so nothing to execute: add one with "
                             "foreachRDD, pprint or saveAsTextFiles before start()")
        for s in self.output_streams:
            s._validate()

    def start(self, zero_ms: int) -> None:
        """Fix the zero time and remember durations of every stream."""
        self.zero_ms = zero_ms
        for s in self.output_streams:
            s._initialize(zero_ms)
        for s in self.output_streams:
            s._remember(self.remember_ms)
        for s in self.input_streams:
            s.start()

    def stop(self) -> None:
        for s in self.input_streams:
            s.stop()

    def generate_jobs(self, t: int) -> list[Job]:
        """Compute the RDDs of batch ``t`` and one job per output operation that has one."""
        jobs = []
        for i, out in enumerate(self.output_streams):
            run = out._job_for(t)
            if run is not None:
                jobs.append(Job(t, i, out.name, out.description, run))
        return jobs

    def clear_metadata(self, t: int) -> None:
        for s in self.output_streams:
            s._clear_metadata(t)
