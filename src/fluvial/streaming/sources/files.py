"""textFileStream / binaryRecordsStream: new files of a directory, batch by batch.

Spark's FileInputDStream rules, on the context's clock (so a ManualClock
drives them in tests):

* The batch at time ``t`` selects the files of ``directory`` (a glob selects
  several directories) whose modification time lies in
  ``(max(t - rememberWindow, ignoreTime), t]`` and that no batch of the
  remember window has selected yet. ``rememberWindow`` is
  ``spark.streaming.fileStream.minRememberDuration`` (default
  ``spark.streaming.minRememberDuration``, 60 s) rounded up to whole batches.
* ``newFilesOnly`` (the default) sets ``ignoreTime`` to the clock's time when
  the stream is created, so files already there are ignored.
* Names starting with ``.`` or ``_`` are ignored (temporary and hidden
  files), as are subdirectories. Files must appear atomically (written
  elsewhere, then moved in): a file is read as it is when its batch runs.
* A missing or unreadable directory gives empty batches and a warning.

Each batch's RDD reads its files in modification-time order (then by name):
text lines (``\\n``, ``\\r\\n`` or ``\\r`` end a line; strict UTF-8, an
undecodable line fails the batch with an error naming the file and byte
offset), or fixed-length records (a file whose size is not a multiple of
``recordLength`` fails the batch when it is selected, with an error naming
the file). The batch's record count, reported to listeners, is exact: sizes
give it for binary records; text files are scanned once for line ends on the
driver when selected (a fast byte count, but a second pass over the data).
"""
from __future__ import annotations

import glob
import logging
import math
import os
import threading
import zlib
from typing import TYPE_CHECKING

from ...core.files import FileSplitRDD, FixedRecordRDD
from ...core.rdd import RDD
from ...core.textio import BLOCK_SIZE, open_input, plan_splits
from .base import InputDStream

if TYPE_CHECKING:
    from ..context import StreamingContext

log = logging.getLogger("fluvial.streaming")

__all__ = ["FileInputDStream", "count_lines"]

_READ_SIZE = 1 << 20


def count_lines(path: str) -> int:
    """Lines ``read_split`` yields for ``path``: line ends plus an unterminated last line."""
    ends = 0
    prev_cr = False
    last = b""
    with open_input(path) as f:
        while True:
            chunk = f.read(_READ_SIZE)
            if not chunk:
                break
            crlf = chunk.count(b"\r\n") + (1 if prev_cr and chunk[:1] == b"\n" else 0)
            ends += chunk.count(b"\n") + chunk.count(b"\r") - crlf
            prev_cr = chunk.endswith(b"\r")
            last = chunk[-1:]
    return ends + (1 if last not in (b"", b"\n", b"\r") else 0)


def _visible(name: str) -> bool:
    return not name.startswith((".", "_"))


class FileInputDStream(InputDStream):
    """New files of ``directory`` as lines (``kind="text"``) or fixed-length
    records (``kind="binary"``); see the module docstring.

    Metadata checkpoints keep the files selected per remembered batch, so a
    batch re-run after a crash reads the same files, and files that arrived
    while the driver was down go to the first batches generated for the
    downtime (as in Spark)."""

    _transient = ("_files_lock",)

    def __init__(self, ssc: "StreamingContext", directory: str, kind: str = "text",
                 recordLength: int | None = None, newFilesOnly: bool = True) -> None:
        if not isinstance(directory, str) or not directory:
            raise ValueError(f"directory must be a non-empty string, got {directory!r}")
        if kind not in ("text", "binary"):
            raise ValueError(f"FileInputDStream kind must be 'text' or 'binary', got {kind!r}")
        if kind == "binary" and (isinstance(recordLength, bool) or not isinstance(recordLength, int)
                                 or recordLength <= 0):
            raise ValueError(f"binaryRecordsStream: recordLength must be a positive integer, got {recordLength!r}")
        super().__init__(ssc)
        for prefix in ("file://", "file:"):
            if directory.startswith(prefix):
                directory = directory[len(prefix):]
                break
        self.directory = directory
        self.kind = kind
        self.record_length = recordLength
        conf = ssc._sc._conf
        min_remember_s = conf.getSeconds("spark.streaming.fileStream.minRememberDuration",
                                         conf.getSeconds("spark.streaming.minRememberDuration", 60.0))
        batches = max(1, math.ceil(min_remember_s * 1000 / self._slide_ms))
        self.remember_window_ms = batches * self._slide_ms
        self._remember_ms = self.remember_window_ms
        self.ignore_time_ms = ssc._clock.time_ms() if newFilesOnly else 0
        self._selected: dict[int, list[str]] = {}
        self._recent: set[str] = set()
        self._files_lock = threading.Lock()
        self._missing_warned = False

    # -- selection ----------------------------------------------------------
    def _directories(self) -> list[str]:
        if glob.has_magic(self.directory):
            return [d for d in sorted(glob.glob(self.directory)) if os.path.isdir(d)]
        return [self.directory]

    def _find_new_files(self, t: int) -> list[str]:
        threshold = max(self.ignore_time_ms, t - self.remember_window_ms)
        found: list[tuple[int, str]] = []
        dirs = self._directories()
        if not dirs:
            self._warn_missing(f"no directory matches {self.directory}")
        for d in dirs:
            try:
                entries = list(os.scandir(d))
            except FileNotFoundError:
                self._warn_missing(f"No directory to scan: {d}")
                continue
            except OSError as exc:
                log.warning("%s: error listing %s, no files taken from it this batch: %s", self.name, d, exc)
                continue
            self._missing_warned = False
            for entry in entries:
                if not _visible(entry.name):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    mtime = entry.stat().st_mtime_ns // 1_000_000
                except FileNotFoundError:
                    continue  # removed while listing
                path = os.path.abspath(entry.path)
                if threshold < mtime <= t and path not in self._recent:
                    found.append((mtime, path))
        return [p for _, p in sorted(found)]

    def _warn_missing(self, message: str) -> None:
        if not self._missing_warned:
            log.warning("%s: %s (empty batches until it exists)", self.name, message)
            self._missing_warned = True

    # -- batches ------------------------------------------------------------
    def _compute(self, t: int) -> RDD | None:
        with self._files_lock:
            files = self._selected.get(t)
            if files is None:  # else a batch re-run after recovery: the same files again
                files = self._find_new_files(t)
                self._selected[t] = files
                self._recent.update(files)
        sizes = {}
        for f in files:
            sizes[f] = os.path.getsize(f)
            if sizes[f] == 0:
                log.warning("%s: file %s has no data in it. Files must be moved into the monitored "
                            "directory once complete.", self.name, f)
        if self.kind == "text":
            rdd, count = self._text_rdd(files, sizes)
        else:
            rdd, count = self._binary_rdd(files, sizes)
        uris = ["file:" + f for f in files]
        self._report(t, count, {"files": uris, "Description": "\n".join(uris)})
        return rdd

    def _text_rdd(self, files: list[str], sizes: dict[str, int]) -> tuple[RDD, int]:
        nonempty = [f for f in files if sizes[f]]
        splits = [s for f in nonempty for s in plan_splits([f], 1)]
        count = 0
        for f in nonempty:
            try:
                count += count_lines(f)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"{f}: cannot read the file selected for textFileStream of "
                                 f"{self.directory}: {type(exc).__name__}: {exc}") from exc
        return FileSplitRDD(self._sc, splits), count

    def _binary_rdd(self, files: list[str], sizes: dict[str, int]) -> tuple[RDD, int]:
        length = self.record_length
        assert length is not None
        step = max(length, BLOCK_SIZE // length * length)
        splits = []
        for f in files:
            size = sizes[f]
            if size % length:
                raise ValueError(f"{f}: size {size} bytes is not a multiple of recordLength={length} "
                                 f"(binaryRecordsStream of {self.directory}); the last record would be "
                                 f"partial ({size % length} bytes)")
            splits.extend((f, s, min(size, s + step)) for s in range(0, size, step))
        return FixedRecordRDD(self._sc, splits, length), sum(sizes[f] // length for f in files)

    def _after_restore(self) -> None:
        self._files_lock = threading.Lock()

    def _clear_metadata(self, t: int) -> None:
        super()._clear_metadata(t)
        with self._files_lock:
            for old in [k for k in self._selected if k < t - self.remember_window_ms]:
                self._recent.difference_update(self._selected.pop(old))

    def selected_files(self) -> dict[int, list[str]]:
        """Batch time (ms) → files selected, for the batches still remembered."""
        with self._files_lock:
            return {k: list(v) for k, v in self._selected.items()}
