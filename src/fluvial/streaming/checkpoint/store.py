"""Metadata checkpoint files: ``<dir>/checkpoint-<batch time ms>``, verified.

One file per checkpointed batch time, the newest ``keep`` kept. Each file is
written atomically (:func:`fluvial.core.fsio.atomic_write`): a reader finds
the previous complete file or the new complete one, never a torn one, and
once :meth:`CheckpointStore.write` returns the file is durable (local:
fsynced file and directory). Reading verifies every file, newest first, and
falls back to an older one (with a warning naming the skipped file and why)
when the newest is truncated, corrupt, tampered with, or signed differently.

File layout (big-endian)::

    b"FLUVCKPT"          magic, 8 bytes
    format               u16: checkpoint format version (this module writes FORMAT)
    len(writer)          u8, then the writer's fluvial version string (UTF-8)
    flags                u16: bit 0 = signed
    len(payload)         u64
    payload
    digest               32 bytes over everything before it: SHA-256, or
                         HMAC-SHA256 with the signing key when signed

The magic, format and writer version come first in every format, so a
fluvial can always say which version wrote a file it cannot read. A file of
another format is never skipped silently: reading it raises
:class:`CheckpointError` telling to delete the directory or run the matching
fluvial.

Security: the payload of a metadata checkpoint is a pickle, and loading one
runs code; only load checkpoints you wrote. With a signing key
(``spark.fluvial.checkpoint.signingKey``) every file is signed with
HMAC-SHA256, and a file that is unsigned, signed with another key, or
altered is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import struct
from typing import Iterator

from ...core import fsio
from ...core.context import __version__

log = logging.getLogger("fluvial.checkpoint")

MAGIC = b"FLUVCKPT"
FORMAT = 1
FLAG_SIGNED = 0x1
_KNOWN_FLAGS = FLAG_SIGNED
PREFIX = "checkpoint-"

_STABLE = struct.Struct(">8sHB")   # magic, format, len(writer version): the same in every format
_FIXED = struct.Struct(">HQ")      # flags, len(payload)
_DIGEST_LEN = 32
_NAME = re.compile(r"checkpoint-(\d+)")
_TEMP = re.compile(r"\.checkpoint-(\d+)\.tmp-.*")


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a checkpoint refused (another format). The
    message lists every file concerned and why."""


class _Unusable(Exception):
    """This one file cannot be used (the reason is the message)."""


class CheckpointStore:
    """The metadata checkpoint files of one checkpoint directory.

    Guarantees: :meth:`write` is atomic and durable when it returns; reads
    never return a payload whose digest (or signature) does not verify. The
    store holds no state beyond its settings: every call looks at the
    directory, so several stores (or processes) may read one directory; a
    directory has one writer at a time.

    Checkpoints are pickles and loading one runs code: only load checkpoints
    you wrote. Give ``signing_key`` (the value of
    ``spark.fluvial.checkpoint.signingKey``) to sign what is written and to
    refuse, when reading, any file not signed with that key: a tampered
    checkpoint is then never loaded."""

    def __init__(self, url: str, *, keep: int = 3, signing_key: bytes | str | None = None) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"CheckpointStore: keep must be an integer >= 1 (checkpoint files to keep), "
                             f"got {keep!r}")
        if isinstance(signing_key, str):
            signing_key = signing_key.encode("utf-8")
        if signing_key is not None and (not isinstance(signing_key, bytes) or not signing_key):
            raise ValueError("CheckpointStore: signing_key must be a non-empty str or bytes "
                             "(spark.fluvial.checkpoint.signingKey), or None")
        self.url = fsio.absolute(url)
        self.keep = keep
        self._key: bytes | None = signing_key

    def __repr__(self) -> str:
        return f"CheckpointStore({self.url!r}, keep={self.keep}, signed={self._key is not None})"

    def file_url(self, time_ms: int) -> str:
        return fsio.join(self.url, f"{PREFIX}{time_ms}")

    # ------------------------------------------------------------ writing
    def write(self, time_ms: int, payload: bytes) -> str:
        """Write the checkpoint of batch time ``time_ms`` (replacing, atomically,
        one already written for that time), then delete all but the newest
        ``keep`` checkpoint files by time (a write older than all of those is
        itself deleted). Returns the file's URL; durable when this returns."""
        if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms < 0:
            raise ValueError(f"CheckpointStore.write: time_ms must be a non-negative integer, got {time_ms!r}")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"CheckpointStore.write: payload must be bytes, got {type(payload).__name__}")
        url = self.file_url(time_ms)
        fsio.atomic_write(url, _encode(bytes(payload), self._key))
        self._prune()
        return url

    def _prune(self) -> None:
        names = fsio.list_names(self.url)
        times = sorted((int(m.group(1)) for m in map(_NAME.fullmatch, names) if m), reverse=True)
        for t in times[self.keep:]:
            fsio.remove(self.file_url(t))
        if not times:
            return
        oldest_kept = times[:self.keep][-1]
        for name in names:
            m = _TEMP.fullmatch(name)
            if m and int(m.group(1)) < oldest_kept:    # left by a write that crashed
                fsio.remove(fsio.join(self.url, name))

    def delete_all(self) -> None:
        """Delete every checkpoint file of this store (and temp files left by
        interrupted writes). Other contents of the directory (data
        checkpoints, logs) are left alone."""
        for name in fsio.list_names(self.url):
            if _NAME.fullmatch(name) or _TEMP.fullmatch(name):
                fsio.remove(fsio.join(self.url, name))

    # ------------------------------------------------------------ reading
    def generations(self) -> list[int]:
        """Batch times of the checkpoint files present, newest first (names
        that are not ``checkpoint-<digits>``, temp files among them, are
        ignored). Files are not verified here."""
        names = fsio.list_names(self.url)
        return sorted((int(m.group(1)) for m in map(_NAME.fullmatch, names) if m), reverse=True)

    def valid(self) -> Iterator[tuple[int, bytes]]:
        """``(time_ms, payload)`` of each checkpoint file that verifies, newest
        first. Before moving past a file that does not verify, logs a WARNING
        naming it and why (truncated, bad digest, bad signature, ...). Raises
        CheckpointError on reaching a file of a checkpoint format this fluvial
        does not read."""
        return self._valid([])

    def read_latest(self) -> tuple[int, bytes] | None:
        """The newest checkpoint that verifies (see :meth:`valid`); None when
        there are no checkpoint files at all; CheckpointError listing every
        file and why it was refused when files exist but none verifies."""
        skipped: list[tuple[str, str]] = []
        for found in self._valid(skipped):
            return found
        if not skipped:
            return None
        lines = "\n".join(f"  {name}: {why}" for name, why in skipped)
        raise CheckpointError(f"no usable checkpoint in {self.url}: none of its {len(skipped)} checkpoint "
                              f"file(s) verifies:\n{lines}\nDelete the checkpoint files to start afresh")

    def _valid(self, skipped: list[tuple[str, str]]) -> Iterator[tuple[int, bytes]]:
        for t in self.generations():
            url = self.file_url(t)
            try:
                try:
                    data = fsio.read_bytes(url)
                except FileNotFoundError:
                    raise _Unusable("removed while being read (pruned by a concurrent writer)") from None
                except OSError as exc:
                    raise _Unusable(f"unreadable: {exc}") from exc
                payload = _decode(data, self._key, url, self.url)
            except _Unusable as why:
                skipped.append((url, str(why)))
                log.warning("skipping checkpoint file %s: %s; trying an older one", url, why)
                continue
            yield t, payload


# ------------------------------------------------------------------ format
def _digest(key: bytes | None, *parts: bytes) -> bytes:
    h = hmac.new(key, digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _encode(payload: bytes, key: bytes | None, *, format_version: int = FORMAT,
            writer: str = __version__) -> bytes:
    version = writer.encode("utf-8")[:255]
    header = (_STABLE.pack(MAGIC, format_version, len(version)) + version
              + _FIXED.pack(FLAG_SIGNED if key is not None else 0, len(payload)))
    return b"".join((header, payload, _digest(key, header, payload)))


def _decode(data: bytes, key: bytes | None, url: str, directory: str) -> bytes:
    """The payload of checkpoint file ``data``; _Unusable with the reason when
    it does not verify; CheckpointError when it is of another format."""
    if len(data) < _STABLE.size:
        raise _Unusable(f"truncated: {len(data)} bytes, shorter than the {_STABLE.size}-byte header start")
    magic, fmt, vlen = _STABLE.unpack_from(data)
    if magic != MAGIC:
        raise _Unusable(f"not a fluvial checkpoint (starts with {magic!r}, expected {MAGIC!r})")
    if fmt != FORMAT:
        repaired = data[:8] + struct.pack(">H", FORMAT) + data[10:]
        try:
            _decode_current(repaired, key)
        except _Unusable:
            writer = data[_STABLE.size:_STABLE.size + vlen].decode("utf-8", "replace") or "(unknown)"
            raise CheckpointError(
                f"{url} was written by fluvial {writer} with checkpoint format {fmt}; this fluvial "
                f"{__version__} reads format {FORMAT}; delete {directory} or run the matching fluvial") from None
        raise _Unusable(f"corrupt: its format field reads {fmt}, yet it verifies as format {FORMAT} "
                        "(damaged bytes)")
    return _decode_current(data, key)


def _decode_current(data: bytes, key: bytes | None) -> bytes:
    vlen = data[_STABLE.size - 1]
    fixed_at = _STABLE.size + vlen
    header_len = fixed_at + _FIXED.size
    if len(data) < header_len:
        raise _Unusable(f"truncated: {len(data)} bytes, shorter than its {header_len}-byte header")
    flags, plen = _FIXED.unpack_from(data, fixed_at)
    expected = header_len + plen + _DIGEST_LEN
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "corrupt"
        raise _Unusable(f"{state}: {len(data)} bytes, its header says {expected} "
                        f"({plen} bytes of payload)")
    if flags & ~_KNOWN_FLAGS:
        raise _Unusable(f"corrupt: unknown flags 0x{flags:04x}")
    signed = bool(flags & FLAG_SIGNED)
    if signed and key is None:
        raise _Unusable("signed with a key (HMAC-SHA256), but no signing key is set "
                        "(spark.fluvial.checkpoint.signingKey)")
    if not signed and key is not None:
        raise _Unusable("not signed, but a signing key is set: unsigned checkpoints are refused")
    body = memoryview(data)[:header_len + plen]
    if not hmac.compare_digest(_digest(key, body), data[-_DIGEST_LEN:]):
        raise _Unusable("signature does not match the signing key (wrong key, or the file was altered)"
                        if signed else "bad digest: SHA-256 does not match (corrupt or altered)")
    return bytes(body[header_len:])
