"""InputDStream: a stream with no parents, registered with the graph.

Each input stream has an id unique within its context. It reports the number
of records it produced for a batch to the context's input-info tracker, which
ends up in that batch's :class:`~fluvial.streaming.listener.BatchInfo`.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..dstream import DStream
from ..listener import StreamInputInfo

if TYPE_CHECKING:
    from ..context import StreamingContext


class InputDStream(DStream):
    def __init__(self, ssc: "StreamingContext") -> None:
        super().__init__(ssc, [])
        self.id = ssc._graph.add_input_stream(self)
        self.name = f"{type(self).__name__} [{self.id}]"

    def start(self) -> None:
        """Called when the context starts."""

    def stop(self) -> None:
        """Called when the context stops."""

    def _report(self, t: int, num_records: int, metadata: dict | None = None) -> None:
        self._ssc._input_info.report(t, StreamInputInfo(self.id, num_records, metadata or {}))


class InputInfoTracker:
    """Per batch time, what each input stream produced; the scheduler takes a
    batch's infos (once) when it builds that batch's BatchInfo. Reports for a
    batch already taken (an older batch recomputed after recovery, to rebuild
    a window or a state) are dropped."""

    def __init__(self) -> None:
        self._infos: dict[int, dict[int, StreamInputInfo]] = {}
        self._taken_upto = -1
        self._lock = threading.Lock()

    def report(self, t: int, info: StreamInputInfo) -> None:
        with self._lock:
            if t > self._taken_upto:
                self._infos.setdefault(t, {})[info.inputStreamId()] = info

    def take(self, t: int) -> dict[int, StreamInputInfo]:
        with self._lock:
            self._taken_upto = max(self._taken_upto, t)
            for old in [k for k in self._infos if k < t]:
                del self._infos[old]
            return self._infos.pop(t, {})
