"""Input paths, input splits and line reading, following Hadoop's text input rules.

* Paths: comma-separated; each a file, a directory (its files, not
  subdirectories) or a glob. Names starting with ``_`` or ``.`` found in a
  directory or by a glob are skipped (Hadoop's hidden-file filter).
* Splits (``textFile``): goal size ``total bytes // minPartitions`` capped at
  32 MiB (the local filesystem's block size), at least 1 byte; a file is cut
  into goal-size pieces while more than 1.1 goal sizes remain. Compressed
  files (``.gz``, ``.bz2``, ``.deflate``) are one split each; an empty file
  is one (empty) split.
* Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``; terminators are dropped; a
  UTF-8 byte-order mark at the start of a file is dropped.
* A split ``[start, end)`` that does not begin the file skips through the
  first line terminator at or after ``start``, then reads every line that
  starts at or before ``end``. Hence every line is read by exactly one split,
  whatever the split boundaries.
"""
from __future__ import annotations

import bz2
import glob
import gzip
import io
import os
import re
import zlib
from typing import IO, Any, Callable, Iterator

BLOCK_SIZE = 32 * 1024 * 1024
_READ_SIZE = 1 << 20
_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


def _open_deflate(path: str, mode: str = "rb") -> IO[bytes]:
    with open(path, "rb") as f:
        return io.BytesIO(zlib.decompress(f.read()))


COMPRESSED: dict[str, Callable[..., IO[bytes]]] = {".gz": gzip.open, ".bz2": bz2.open, ".deflate": _open_deflate}


def is_compressed(path: str) -> bool:
    return os.path.splitext(path)[1] in COMPRESSED


def open_input(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when its extension names a codec."""
    opener = COMPRESSED.get(os.path.splitext(path)[1])
    return opener(path, "rb") if opener else open(path, "rb")


def _strip_scheme(part: str) -> str:
    if part.startswith("file://"):
        return part[len("file://"):]
    if part.startswith("file:"):
        return part[len("file:"):]
    return part


def _visible(name: str) -> bool:
    return not os.path.basename(name).startswith((".", "_"))


def expand_paths(path: str) -> list[str]:
    """Files named by ``path`` (see the module docstring), each group sorted.

    Raises FileNotFoundError naming the first path or pattern that matches
    nothing."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"path must be a non-empty string, got {path!r}")
    out: list[str] = []
    for part in path.split(","):
        part = _strip_scheme(part.strip())
        if glob.has_magic(part):
            matches = [m for m in sorted(glob.glob(part)) if _visible(m)]
            if not matches:
                raise FileNotFoundError(f"Input Pattern {part} matches 0 files")
        else:
            matches = [part]
        for m in matches:
            if os.path.isdir(m):
                out.extend(os.path.join(m, f) for f in sorted(os.listdir(m))
                           if _visible(f) and os.path.isfile(os.path.join(m, f)))
            elif os.path.exists(m):
                out.append(m)
            else:
                raise FileNotFoundError(f"Input path does not exist: {m}")
    return out


def plan_splits(files: list[str], min_partitions: int) -> list[tuple[str, int, int]]:
    """``(path, start, end)`` byte ranges (end exclusive) for ``textFile``."""
    sizes = {f: os.path.getsize(f) for f in files}
    goal = sum(sizes.values()) // max(1, min_partitions)
    split_size = max(1, min(goal, BLOCK_SIZE))
    splits: list[tuple[str, int, int]] = []
    for f in files:
        size = sizes[f]
        if size == 0 or is_compressed(f):
            splits.append((f, 0, size))
            continue
        remaining = size
        while remaining / split_size > 1.1:
            start = size - remaining
            splits.append((f, start, start + split_size))
            remaining -= split_size
        if remaining:
            splits.append((f, size - remaining, size))
    return splits


def decode_line(raw: bytes, path: str, offset: int) -> str:
    """``raw`` as UTF-8; ValueError naming the file and byte offset otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: undecodable bytes (not UTF-8) at byte offset {offset + e.start}: "
                         f"{raw[e.start:e.start + 8]!r}") from None


def _raw_lines(f: IO[bytes], pos: int) -> Iterator[tuple[int, bytes, int]]:
    """``(line start, line without terminator, position after terminator)``
    for the lines of ``f`` from its current position ``pos``."""
    buf = b""
    base = pos
    i = 0
    eof = False
    while True:
        m = _EOL.search(buf, i)
        if m is not None and (m.end() < len(buf) or eof or m.group() != b"\r"):
            yield base + i, buf[i:m.start()], base + m.end()
            i = m.end()
            continue
        if eof:
            if i < len(buf):
                yield base + i, buf[i:], base + len(buf)
            return
        chunk = f.read(_READ_SIZE)
        if not chunk:
            eof = True
        buf = buf[i:] + chunk
        base += i
        i = 0


def read_split(path: str, start: int, end: int, use_unicode: bool = True) -> Iterator[Any]:
    """The lines of split ``[start, end)`` of ``path`` (all lines of a
    compressed file), decoded unless ``use_unicode`` is false."""
    compressed = is_compressed(path)
    with open_input(path) as f:
        if start and not compressed:
            f.seek(start)
        lines = _raw_lines(f, 0 if compressed else start)
        if start and not compressed:
            next(lines, None)  # the line that began before this split belongs to the previous one
        for line_start, raw, _ in lines:
            if not compressed and line_start > end:
                return
            if line_start == 0 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            yield decode_line(raw, path, line_start) if use_unicode else raw
