"""Reading and writing files: text lines, whole files, fixed-length records.

Text is split on ``\\n`` (a trailing ``\\r`` is dropped, as Hadoop does) and
decoded as strict UTF-8: undecodable bytes raise :class:`UnicodeDecodeError`
re-raised as ``ValueError`` naming the file and byte offset. A file is cut
into byte ranges; a line belongs to the range its first byte falls in (the
Hadoop rule), so every line is read exactly once whatever the split count.
"""
from __future__ import annotations

import bz2
import glob
import gzip
import os
import pickle
import shutil
from typing import Any, Iterator, Sequence

from .rdd import RDD

_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open}


def expand_paths(path: str) -> list[str]:
    """Comma-separated paths, globs and directories, to a sorted list of files.
    Names starting with ``.`` or ``_`` inside a directory are skipped."""
    out: list[str] = []
    for part in path.split(","):
        part = part.strip()
        if part.startswith("file://"):
            part = part[len("file://"):]
        elif part.startswith("file:"):
            part = part[len("file:"):]
        matches = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
        if not matches:
            raise FileNotFoundError(f"Input path does not exist: {part} (no file matches the pattern)")
        for m in matches:
            if os.path.isdir(m):
                out.extend(os.path.join(m, f) for f in sorted(os.listdir(m))
                           if not f.startswith((".", "_")) and os.path.isfile(os.path.join(m, f)))
            elif os.path.exists(m):
                out.append(m)
            else:
                raise FileNotFoundError(f"Input path does not exist: {m}")
    return out


def decode_line(raw: bytes, path: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: undecodable bytes (not UTF-8) at byte offset {offset + e.start}: "
                         f"{raw[e.start:e.start + 8]!r}") from None


def read_lines(path: str, start: int, end: int, use_unicode: bool = True) -> Iterator[Any]:
    """Lines whose first byte lies in ``[start, end]`` (a line starting exactly at
    ``end`` belongs here; the next range skips it)."""
    opener = _COMPRESSED.get(os.path.splitext(path)[1])
    with (opener(path, "rb") if opener else open(path, "rb")) as f:
        pos = start
        if start:
            f.seek(start - 1)
            skipped = f.readline()  # finish the line that began before us
            pos = start - 1 + len(skipped)
        while pos <= end or opener:
            raw = f.readline()
            if not raw:
                return
            line_start = pos
            pos += len(raw)
            if raw.endswith(b"\n"):
                raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
            yield decode_line(raw, path, line_start) if use_unicode else raw


class FileSplitRDD(RDD):
    """Partitions are byte ranges ``(path, start, end)`` of files."""

    def __init__(self, ctx: Any, splits: Sequence[tuple[str, int, int]], use_unicode: bool = True) -> None:
        super().__init__(ctx, [], len(splits))
        self._splits = list(splits)
        self._use_unicode = use_unicode

    def compute(self, split: int, tctx: Any) -> Iterator:
        path, start, end = self._splits[split]
        return read_lines(path, start, end, self._use_unicode)


def text_file_rdd(ctx: Any, path: str, min_partitions: int, use_unicode: bool = True) -> RDD:
    files = expand_paths(path)
    sizes = {f: os.path.getsize(f) for f in files}
    total = sum(sizes[f] for f in files if os.path.splitext(f)[1] not in _COMPRESSED)
    goal = max(1, total // max(1, min_partitions))
    splits: list[tuple[str, int, int]] = []
    for f in files:
        size = sizes[f]
        if os.path.splitext(f)[1] in _COMPRESSED or size == 0:
            splits.append((f, 0, max(0, size - 1)))
            continue
        start = 0
        while start < size:
            length = goal if size - start > goal * 1.1 else size - start
            splits.append((f, start, start + length - 1))
            start += length
    return FileSplitRDD(ctx, splits, use_unicode)


class WholeFileRDD(RDD):
    """One record per file: ``(uri, content)``; files grouped into partitions."""

    def __init__(self, ctx: Any, groups: Sequence[list[str]], mode: str) -> None:
        super().__init__(ctx, [], len(groups))
        self._groups = [list(g) for g in groups]
        self._mode = mode

    def compute(self, split: int, tctx: Any) -> Iterator:
        for path in self._groups[split]:
            with open(path, "rb") as f:
                data = f.read()
            if self._mode == "text":
                yield "file:" + os.path.abspath(path), decode_line(data, path, 0)
            else:
                yield "file:" + os.path.abspath(path), data


def whole_files_rdd(ctx: Any, path: str, min_partitions: int, mode: str) -> RDD:
    files = expand_paths(path)
    n = max(1, min(min_partitions, len(files))) if files else 1
    groups = [files[i * len(files) // n:(i + 1) * len(files) // n] for i in range(n)]
    return WholeFileRDD(ctx, groups, mode)


class FixedRecordRDD(RDD):
    """Fixed-length binary records of files, one partition per file."""

    def __init__(self, ctx: Any, files: Sequence[str], record_length: int) -> None:
        super().__init__(ctx, [], len(files))
        self._files = list(files)
        self._len = record_length

    def compute(self, split: int, tctx: Any) -> Iterator[bytes]:
        return read_records(self._files[split], self._len)


def read_records(path: str, record_length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % record_length:
        raise ValueError(f"{path}: size {len(data)} bytes is not a multiple of the record length "
                         f"{record_length}")
    return (data[i:i + record_length] for i in range(0, len(data), record_length))


def binary_records_rdd(ctx: Any, path: str, record_length: int) -> RDD:
    if not isinstance(record_length, int) or record_length <= 0:
        raise ValueError(f"recordLength must be a positive integer, got {record_length!r}")
    return FixedRecordRDD(ctx, expand_paths(path), record_length)


def _output_dir(path: str) -> str:
    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _save(rdd: RDD, path: str, write_part: Any) -> None:
    out = _output_dir(path)
    if os.path.exists(out):
        raise FileExistsError(f"Output directory {out} already exists")
    tmp = os.path.join(out, "_temporary")
    os.makedirs(tmp)
    try:
        parts = rdd.mapPartitionsWithIndex(lambda s, it: [write_part(tmp, s, it)])
        for name in parts.collect():
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(tmp)
    open(os.path.join(out, "_SUCCESS"), "wb").close()


def save_as_text_file(rdd: RDD, path: str, codec: str | None = None) -> None:
    gz = codec is not None and "gzip" in codec.lower()

    def write_part(tmp: str, split: int, it: Iterator) -> str:
        name = f"part-{split:05d}" + (".gz" if gz else "")
        with (gzip.open if gz else open)(os.path.join(tmp, name), "wb") as f:
            for x in it:
                f.write(x if isinstance(x, bytes) else str(x).encode("utf-8"))
                f.write(b"\n")
        return name
    _save(rdd, path, write_part)


def save_as_pickle_file(rdd: RDD, path: str) -> None:
    def write_part(tmp: str, split: int, it: Iterator) -> str:
        name = f"part-{split:05d}"
        with open(os.path.join(tmp, name), "wb") as f:
            pickle.dump(list(it), f, protocol=5)
        return name
    _save(rdd, path, write_part)


class PickleFileRDD(RDD):
    def __init__(self, ctx: Any, files: Sequence[str]) -> None:
        super().__init__(ctx, [], len(files))
        self._files = list(files)

    def compute(self, split: int, tctx: Any) -> Iterator:
        with open(self._files[split], "rb") as f:
            return iter(pickle.load(f))


def pickle_file_rdd(ctx: Any, path: str) -> RDD:
    return PickleFileRDD(ctx, [f for f in expand_paths(path) if os.path.basename(f).startswith("part-")])
