"""File-backed RDDs and the ``saveAs*`` writers.

Reading rules (paths, splits, line endings) are in :mod:`fluvial.core.textio`.
Text is decoded as strict UTF-8: undecodable bytes fail the task with a
``ValueError`` naming the file and byte offset (PySpark would substitute
U+FFFD instead).

Writers produce Hadoop's layout: one ``part-NNNNN`` file per partition
(written under ``_temporary`` and moved into place when the task ends),
then an empty ``_SUCCESS`` marker. The output directory must not exist; if
the job fails, the directory is removed.
"""
from __future__ import annotations

import bz2
import gzip
import math
import os
import pickle
import shutil
import zlib
from typing import IO, Any, Callable, Iterator, Sequence

from .rdd import RDD
from .textio import BLOCK_SIZE, decode_line, expand_paths, plan_splits, read_split


class FileSplitRDD(RDD):
    """Partitions are byte ranges ``(path, start, end)`` of text files."""

    def __init__(self, ctx: Any, splits: Sequence[tuple[str, int, int]], use_unicode: bool = True) -> None:
        super().__init__(ctx, [], len(splits))
        self._splits = list(splits)
        self._use_unicode = use_unicode

    def compute(self, split: int, tctx: Any) -> Iterator:
        path, start, end = self._splits[split]
        return read_split(path, start, end, self._use_unicode)


def text_file_rdd(ctx: Any, path: str, min_partitions: int, use_unicode: bool = True) -> RDD:
    return FileSplitRDD(ctx, plan_splits(expand_paths(path), min_partitions), use_unicode)


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
            uri = "file:" + os.path.abspath(path)
            if self._mode == "text":
                yield uri, decode_line(data, path, 0)
            elif self._mode == "bytes":
                yield uri.encode("utf-8"), data
            else:
                yield uri, data


def whole_files_rdd(ctx: Any, path: str, min_partitions: int, mode: str) -> RDD:
    """Files in path order, packed greedily: a partition is closed once its
    files reach the maximum split size (Spark's rules: total size divided by
    ``minPartitions`` for text; for binary files, with a 4 MiB cost per file,
    divided by the parallelism and capped at 128 MiB)."""
    files = expand_paths(path)
    sizes = [os.path.getsize(f) for f in files]
    if mode == "binary":
        open_cost = 4 * 1024 * 1024
        per_core = sum(s + open_cost for s in sizes) // max(ctx.defaultParallelism, min_partitions)
        max_split = min(128 * 1024 * 1024, max(open_cost, per_core))
    else:
        max_split = math.ceil(sum(sizes) / max(1, min_partitions))
    groups: list[list[str]] = []
    current: list[str] = []
    acc = 0
    for f, size in zip(files, sizes):
        current.append(f)
        acc += size
        if max_split and acc >= max_split:
            groups.append(current)
            current, acc = [], 0
    if current:
        groups.append(current)
    return WholeFileRDD(ctx, groups, mode)


class FixedRecordRDD(RDD):
    """Fixed-length binary records; partitions are record-aligned byte ranges."""

    def __init__(self, ctx: Any, splits: Sequence[tuple[str, int, int]], record_length: int) -> None:
        super().__init__(ctx, [], len(splits))
        self._splits = list(splits)
        self._len = record_length

    def compute(self, split: int, tctx: Any) -> Iterator[bytes]:
        path, start, end = self._splits[split]
        return read_records(path, start, end, self._len)


def read_records(path: str, start: int, end: int, record_length: int) -> Iterator[bytes]:
    """Records starting in ``[start, end)``; a partial last record is an error."""
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < end:
            rec = f.read(record_length)
            if len(rec) < record_length:
                raise ValueError(f"{path}: partial record of {len(rec)} bytes at byte offset {pos} "
                                 f"(file size is not a multiple of recordLength={record_length})")
            yield rec
            pos += record_length


def binary_records_rdd(ctx: Any, path: str, record_length: int) -> RDD:
    if isinstance(record_length, bool) or not isinstance(record_length, int) or record_length <= 0:
        raise ValueError(f"recordLength must be a positive integer, got {record_length!r}")
    split = max(record_length, BLOCK_SIZE // record_length * record_length)
    splits = []
    for f in expand_paths(path):
        size = os.path.getsize(f)
        splits.extend((f, s, min(size, s + split)) for s in range(0, size, split))
        if size == 0:
            splits.append((f, 0, 0))
    return FixedRecordRDD(ctx, splits, record_length)


class PickleFileRDD(RDD):
    """One partition per ``part-*`` file written by ``saveAsPickleFile``."""

    def __init__(self, ctx: Any, files: Sequence[str]) -> None:
        super().__init__(ctx, [], len(files))
        self._files = list(files)

    def compute(self, split: int, tctx: Any) -> Iterator:
        with open(self._files[split], "rb") as f:
            while True:
                try:
                    batch = pickle.load(f)
                except EOFError:
                    return
                yield from batch


def pickle_file_rdd(ctx: Any, path: str) -> RDD:
    return PickleFileRDD(ctx, [f for f in expand_paths(path) if os.path.basename(f).startswith("part-")])


# ----------------------------------------------------------------- writing
_CODECS: dict[str, tuple[str, Callable[[str], IO[bytes]]]] = {
    "gzip": (".gz", lambda p: gzip.open(p, "wb")),
    "bzip2": (".bz2", lambda p: bz2.open(p, "wb")),
    "default": (".deflate", lambda p: _DeflateWriter(p)),
    "deflate": (".deflate", lambda p: _DeflateWriter(p)),
}


class _DeflateWriter:
    """A zlib stream, as Hadoop's DefaultCodec writes."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "wb")
        self._z = zlib.compressobj()

    def write(self, data: bytes) -> None:
        self._f.write(self._z.compress(data))

    def __enter__(self) -> "_DeflateWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.write(self._z.flush())
        self._f.close()


def codec_for(name: str | None) -> tuple[str, Callable[[str], IO[bytes]]]:
    """Extension and opener for a Hadoop codec class name (or None: plain files)."""
    if name is None:
        return "", lambda p: open(p, "wb")
    short = name.rsplit(".", 1)[-1].lower().removesuffix("codec")
    if short not in _CODECS:
        raise ValueError(f"compressionCodecClass {name!r} is not supported; use GzipCodec, BZip2Codec "
                         "or DefaultCodec (org.apache.hadoop.io.compress.*)")
    return _CODECS[short]


def _output_dir(path: str) -> str:
    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _save(rdd: RDD, path: str, write_part: Callable[[str, int, Iterator], str]) -> None:
    out = _output_dir(path)
    if os.path.exists(out):
        raise FileExistsError(f"Output directory {out} already exists")
    tmp = os.path.join(out, "_temporary")
    os.makedirs(tmp)
    try:
        def task(split: int, it: Iterator) -> list[str]:
            name = write_part(tmp, split, it)
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
            return [name]
        rdd.mapPartitionsWithIndex(task).collect()
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(tmp)
    open(os.path.join(out, "_SUCCESS"), "wb").close()


def save_as_text_file(rdd: RDD, path: str, codec: str | None = None) -> None:
    ext, opener = codec_for(codec)

    def write_part(tmp: str, split: int, it: Iterator) -> str:
        name = f"part-{split:05d}{ext}"
        with opener(os.path.join(tmp, name)) as f:
            for x in it:
                f.write(x if isinstance(x, bytes) else str(x).encode("utf-8"))
                f.write(b"\n")
        return name
    _save(rdd, path, write_part)


def save_as_pickle_file(rdd: RDD, path: str, batch_size: int) -> None:
    def write_part(tmp: str, split: int, it: Iterator) -> str:
        name = f"part-{split:05d}"
        with open(os.path.join(tmp, name), "wb") as f:
            while True:
                batch = [x for _, x in zip(range(batch_size), it)]
                if not batch:
                    break
                pickle.dump(batch, f, protocol=5)
        return name
    _save(rdd, path, write_part)
