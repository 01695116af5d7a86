"""A write-ahead log in a directory: durable records, rolling segments, cleaning by time.

Receivers write each block here before it counts as stored (see
:mod:`fluvial.streaming.sources.receiver`); after a crash the blocks are read
back. The log is a directory (``<checkpoint dir>/receivedData/<streamId>/``)
of segments named ``log-<startms>-<endms>``: a segment takes the records whose
time falls in ``[start, end]``; the first record past ``end`` starts a new
segment of ``spark.streaming.receiver.writeAheadLog.rollingIntervalSecs``.

Record times never go backwards within a directory: a record is stamped
``max(time_ms, time of the previous record)``, and a reopened log stamps its
first record no earlier than the end of the newest existing segment, so
cleaning by time never removes a record written after one it keeps, even when
the clock went back (a restarted ManualClock).

Durability and framing:

* Local directories (plain paths, ``file://``): a segment is one file of
  frames ``[length u32][crc32 u32][time i64][payload]`` (little endian; the
  CRC covers length, time and payload). :meth:`WriteAheadLog.write` appends
  the frame, flushes and fsyncs the file (and the directory when it created
  the segment) before returning. A crash mid-write leaves a torn last frame,
  which readers recognise and ignore with a warning; a damaged frame followed
  by an intact one is corruption, reported with the file and byte offset.
* Other fsspec URLs (``memory://``, ``s3://``...): object stores cannot
  append, so a segment is a prefix holding one object per record,
  ``log-<start>-<end>/<index>``, each written whole with
  :func:`fluvial.core.fsio.atomic_write` (one put per record: durable where
  the store's put is, and never torn). A handle's ``offset`` is then the
  record's index in its segment.

Thread-safe: writes are serialised; reads and cleaning may run alongside.
"""
from __future__ import annotations

import logging
import os
import re
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import IO, Iterator

from ..core import fsio

log = logging.getLogger("fluvial.streaming")

__all__ = ["WriteAheadLog", "WALHandle", "WALCorruptError"]

_HEADER = struct.Struct("<IIq")          # payload length, crc32, record time (ms)
_NAME = re.compile(r"^log-(\d+)-(\d+)$")
_INDEX_DIGITS = 12


class WALCorruptError(Exception):
    """A record of the log cannot be read back as written. ``path`` names the
    segment file (or record object), ``offset`` the byte offset of the record
    in it (the record index for object-store logs)."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"write-ahead log record at offset {offset} of {path} is unreadable: {reason}")


@dataclass(frozen=True, slots=True)
class WALHandle:
    """Where one record lives: segment name (relative to the log directory),
    byte offset of its frame (record index for object-store logs), payload
    length, and the time the record was stamped with."""

    segment: str
    offset: int
    length: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class _Segment:
    name: str
    start: int
    end: int


def _frame(data: bytes, time_ms: int) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(struct.pack("<Iq", len(data), time_ms)))
    return _HEADER.pack(len(data), crc, time_ms) + data


def _check(buf: memoryview | bytes, pos: int) -> tuple[int, int] | str:
    """``(payload length, time)`` of the intact frame at ``pos``, or why it is not one."""
    if len(buf) - pos < _HEADER.size:
        return "truncated header"
    length, crc, time_ms = _HEADER.unpack_from(buf, pos)
    if pos + _HEADER.size + length > len(buf):
        return f"truncated payload (frame claims {length} bytes, {len(buf) - pos - _HEADER.size} remain)"
    payload = buf[pos + _HEADER.size:pos + _HEADER.size + length]
    if zlib.crc32(payload, zlib.crc32(struct.pack("<Iq", length, time_ms))) != crc:
        return "checksum mismatch"
    return length, time_ms


def _intact_frame_after(buf: memoryview, start: int) -> int | None:
    """Offset of the first intact frame at or after ``start`` (a damaged frame
    with an intact one after it is corruption, not a torn tail)."""
    if not any(buf[start:]):
        return None
    for pos in range(start, len(buf) - _HEADER.size + 1):
        if isinstance(_check(buf, pos), tuple):
            return pos
    return None


class WriteAheadLog:
    """The log in ``directory`` (created if missing); see the module docstring.

    ``rolling_interval_ms``: time span of one segment. Existing segments are
    kept and read by :meth:`records`; writes always go to new segments."""

    def __init__(self, directory: str, rolling_interval_ms: int = 60_000) -> None:
        if rolling_interval_ms <= 0:
            raise ValueError(f"write-ahead log rolling interval must be positive, got {rolling_interval_ms} ms")
        self.directory = fsio.absolute(directory)
        self.rolling_interval_ms = int(rolling_interval_ms)
        self._local = fsio.is_local(self.directory)
        self._path = fsio.resolve(self.directory)[1] if self._local else None
        fsio.makedirs(self.directory)
        self._lock = threading.Lock()
        self._segments: list[_Segment] = self._list_segments()
        self._last_ms: int | None = max((s.end for s in self._segments), default=None)
        self._active: _Segment | None = None
        self._file: IO[bytes] | None = None
        self._size = 0          # bytes in the active local segment / records in the active object segment
        self._closed = False

    # -- naming -------------------------------------------------------------
    def _url(self, name: str) -> str:
        return os.path.join(self._path, name) if self._path is not None else fsio.join(self.directory, name)

    def _record_url(self, segment: str, index: int) -> str:
        return fsio.join(self.directory, segment, f"{index:0{_INDEX_DIGITS}d}")

    def _list_segments(self) -> list[_Segment]:
        found = []
        for name in fsio.list_names(self.directory):
            m = _NAME.match(name)
            if m:
                found.append(_Segment(name, int(m.group(1)), int(m.group(2))))
        return sorted(found, key=lambda s: (s.start, s.end))

    def segments(self) -> list[str]:
        """Segment names, oldest first."""
        with self._lock:
            return [s.name for s in self._segments]

    @property
    def last_time_ms(self) -> int | None:
        """Time stamped on the newest record (at least the end of the newest
        segment found when the log was opened); None for a new, empty log.
        Every later record is stamped with this time or later."""
        return self._last_ms

    # -- writing ------------------------------------------------------------
    def write(self, data: bytes, time_ms: int) -> WALHandle:
        """Append ``data`` as one record stamped ``time_ms`` (or the previous
        record's time if that is later); returns once the record is durable.
        An I/O error propagates and the record is not in the log."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write-ahead log records are bytes, got {type(data).__name__}")
        data = bytes(data)
        with self._lock:
            if self._closed:
                raise ValueError(f"write-ahead log {self.directory} is closed")
            t = int(time_ms) if self._last_ms is None else max(int(time_ms), self._last_ms)
            if self._active is None or t > self._active.end:
                self._roll(t)
            seg = self._active
            assert seg is not None
            frame = _frame(data, t)
            if self._local:
                offset = self._append_local(frame)
            else:
                offset = self._size
                fsio.atomic_write(self._record_url(seg.name, offset), frame)
                self._size += 1
            self._last_ms = t
            return WALHandle(seg.name, offset, len(data), t)

    def _append_local(self, frame: bytes) -> int:
        f, offset = self._file, self._size
        assert f is not None and self._active is not None
        try:
            f.write(frame)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            try:  # leave no partial frame for the next record to follow
                f.truncate(offset)
                f.seek(offset)
                f.flush()
            except OSError:
                # cannot repair: abandon the segment; the next record starts a new one after it
                self._last_ms = self._active.end + 1
                self._close_file()
            raise
        self._size = offset + len(frame)
        return offset

    def _roll(self, t: int) -> None:
        self._close_file()
        seg = _Segment(f"log-{t}-{t + self.rolling_interval_ms}", t, t + self.rolling_interval_ms)
        if self._local:
            assert self._path is not None
            try:
                self._file = open(os.path.join(self._path, seg.name), "xb")
            except FileExistsError:
                raise FileExistsError(f"write-ahead log segment {os.path.join(self._path, seg.name)} "
                                      "already exists: another log writes to this directory") from None
            fsio.fsync_dir(self._path)
        else:
            fsio.makedirs(fsio.join(self.directory, seg.name))
        self._active = seg
        self._size = 0
        self._segments.append(seg)
        log.debug("write-ahead log %s: new segment %s", self.directory, seg.name)

    def _close_file(self) -> None:
        f, self._file, self._active = self._file, None, None
        if f is not None:
            f.close()

    def close(self) -> None:
        """Close the active segment; later writes fail, reads and cleaning still work."""
        with self._lock:
            self._closed = True
            self._close_file()

    # -- reading ------------------------------------------------------------
    def read(self, handle: WALHandle) -> bytes:
        """The payload of the record at ``handle``. A missing segment raises
        FileNotFoundError, a damaged record :class:`WALCorruptError`, both
        naming the file and offset."""
        if self._local:
            path = self._url(handle.segment)
            try:
                with open(path, "rb") as f:
                    f.seek(handle.offset)
                    buf = f.read(_HEADER.size + handle.length)
            except FileNotFoundError:
                raise FileNotFoundError(f"write-ahead log segment {path} is missing (record at offset "
                                        f"{handle.offset}, {handle.length} bytes): it was cleaned or "
                                        "deleted") from None
            pos = 0
        else:
            path = self._record_url(handle.segment, handle.offset)
            try:
                buf = fsio.read_bytes(path)
            except FileNotFoundError:
                raise FileNotFoundError(f"write-ahead log record {path} is missing: it was cleaned or "
                                        "deleted") from None
            pos = 0
        checked = _check(buf, pos)
        if isinstance(checked, str):
            raise WALCorruptError(path, handle.offset, checked)
        length, time_ms = checked
        if length != handle.length or time_ms != handle.time_ms:
            raise WALCorruptError(path, handle.offset, f"holds a record of {length} bytes stamped {time_ms} ms, "
                                  f"expected {handle.length} bytes stamped {handle.time_ms} ms")
        return bytes(buf[_HEADER.size:_HEADER.size + length])

    def records(self) -> Iterator[tuple[WALHandle, bytes]]:
        """Every record with its handle, in write order. A torn last record of
        a segment (a crash mid-write) is skipped with a warning; a damaged
        record followed by intact ones raises :class:`WALCorruptError`."""
        with self._lock:
            segments = list(self._segments)
        for seg in segments:
            if self._local:
                yield from self._local_records(seg)
            else:
                yield from self._object_records(seg)

    def read_all(self) -> list[bytes]:
        """Every record's payload, in write order (see :meth:`records`)."""
        return [data for _, data in self.records()]

    def _local_records(self, seg: _Segment) -> Iterator[tuple[WALHandle, bytes]]:
        path = self._url(seg.name)
        try:
            with open(path, "rb") as f:
                buf = memoryview(f.read())
        except FileNotFoundError:
            return  # cleaned meanwhile
        pos = 0
        while pos < len(buf):
            checked = _check(buf, pos)
            if isinstance(checked, str):
                intact = _intact_frame_after(buf, pos + 1)
                if intact is not None:
                    raise WALCorruptError(path, pos, f"{checked}, with an intact record after it at offset "
                                          f"{intact}")
                log.warning("write-ahead log %s: ignoring a torn last record at offset %d (%d bytes: %s); "
                            "it was being written when the writer stopped, and was never acknowledged",
                            path, pos, len(buf) - pos, checked)
                return
            length, time_ms = checked
            start = pos + _HEADER.size
            yield WALHandle(seg.name, pos, length, time_ms), bytes(buf[start:start + length])
            pos = start + length

    def _object_records(self, seg: _Segment) -> Iterator[tuple[WALHandle, bytes]]:
        seg_url = fsio.join(self.directory, seg.name)
        for name in fsio.list_names(seg_url):
            if not name.isdigit():
                continue  # a temp file of an interrupted put
            index = int(name)
            url = fsio.join(seg_url, name)
            try:
                buf = fsio.read_bytes(url)
            except FileNotFoundError:
                continue
            checked = _check(buf, 0)
            if isinstance(checked, str) or _HEADER.size + checked[0] != len(buf):
                raise WALCorruptError(url, index, checked if isinstance(checked, str) else "trailing bytes")
            length, time_ms = checked
            yield WALHandle(seg.name, index, length, time_ms), bytes(buf[_HEADER.size:])

    # -- cleaning -----------------------------------------------------------
    def clean(self, threshold_ms: int) -> list[str]:
        """Delete the segments whose records are all older than
        ``threshold_ms`` (segment end < threshold), except the one being
        written. Returns the names deleted."""
        with self._lock:
            old = [s for s in self._segments if s.end < threshold_ms and s is not self._active]
            self._segments = [s for s in self._segments if s not in old]
        for seg in old:
            fsio.remove(self._url(seg.name), recursive=not self._local)
        if old:
            log.info("write-ahead log %s: deleted %d segment(s) older than %d ms", self.directory,
                     len(old), threshold_ms)
        return [s.name for s in old]
