"""Files by URL: local paths through ``os``, anything else through fsspec.

Checkpoints (RDD data and streaming metadata) are written with these helpers,
so a checkpoint directory may be a local path (relative ones are made
absolute), ``file://...``, ``memory://...`` (one process only: fsspec's
in-memory filesystem lives in the process that created it) or any URL an
installed fsspec implementation serves (``s3://`` with s3fs, ``gs://`` with
gcsfs, ...).

Local paths never go through fsspec: checkpoints are written every batch, and
``os`` calls are what a local write costs anyway. fsspec (a dependency) is
imported on first use of a non-local URL, so processes that only use local
paths (worker processes among them) do not pay for its import.

Durability: :func:`atomic_write` is the only write; a reader sees the old
file or the whole new one, never a torn one (see its docstring for how each
kind of filesystem gets there). Nothing here retries: an I/O error
propagates as the filesystem raised it (an OSError naming the path).
"""
from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fsspec

# Object stores whose single-object put is atomic: a reader gets the old
# object or the new one whole, so writing the object directly is atomic.
# fsspec's in-memory store replaces a file with one dict assignment.
ATOMIC_PUT_PROTOCOLS = frozenset({"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})

_LOCAL_PREFIXES = ("file://", "local://")


def _local_path(url: str) -> str | None:
    """The absolute local path ``url`` names, or None when it is not local."""
    if "://" not in url and "::" not in url:
        return os.path.abspath(url)
    for prefix in _LOCAL_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix):]
            if path.startswith("localhost/"):
                path = path[len("localhost"):]
            return os.path.abspath(path or "/")
    return None


def _check_url(url: Any) -> str:
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise ValueError(f"expected a non-empty path or URL, got {url!r}")
    return url


def is_local(url: str) -> bool:
    """Whether ``url`` is a local path (plain, ``file://`` or ``local://``)."""
    return _local_path(_check_url(url)) is not None


def canonical(url: str) -> str:
    """One spelling per location: a local path (plain, ``file://``,
    ``local://``) as an absolute path; any other URL as given."""
    url = _check_url(url)
    path = _local_path(url)
    return path if path is not None else url


def absolute(url: str) -> str:
    """``url`` with a plain relative local path made absolute; URLs are
    returned as given."""
    url = _check_url(url)
    return os.path.abspath(url) if "://" not in url and "::" not in url else url


def resolve(url: str) -> "tuple[fsspec.AbstractFileSystem, str]":
    """The filesystem serving ``url`` and the path within it (absolute for
    local paths).

    Raises ValueError naming the URL when no fsspec implementation serves its
    protocol, or when the package that provides it is not installed (naming
    that package, as fsspec's registry does)."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        from fsspec.implementations.local import LocalFileSystem
        return LocalFileSystem(), local
    import fsspec.core
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise ValueError(f"cannot open {url!r}: the filesystem for its protocol is not installed "
                         f"({exc})") from exc
    except ValueError as exc:
        if "Protocol not known" not in str(exc):
            raise
        protocol = url.split("://", 1)[0]
        raise ValueError(f"cannot open {url!r}: no fsspec filesystem is known for protocol "
                         f"{protocol!r} (known: fsspec.available_protocols())") from exc
    return fs, path


def join(url: str, *parts: str) -> str:
    """``url`` with ``parts`` appended as path components, keeping its
    protocol (``join("memory://cp", "rdds")`` is ``"memory://cp/rdds"``).
    Plain local paths join with ``os.path.join``."""
    url = _check_url(url)
    if "://" not in url and "::" not in url:
        return os.path.join(url, *parts)
    out = url
    for p in parts:
        out = out.rstrip("/") + "/" + p.lstrip("/")
    return out


def _split_name(path: str) -> tuple[str, str]:
    path = path.rstrip("/")
    head, _, name = path.rpartition("/")
    return head, name


def atomic_write(url: str, data: bytes) -> None:
    """Write ``data`` as the whole content of ``url``, replacing any file
    there; the parent directory is created when missing.

    Readers see the old file or the whole new one, never a torn one:

    * local: the data goes to ``<dir>/.<name>.tmp-<uuid>``, is flushed and
      fsynced, renamed over the target with ``os.replace`` (atomic on POSIX),
      and the directory is fsynced, so the new file survives a crash of the
      machine once this returns;
    * object stores (:data:`ATOMIC_PUT_PROTOCOLS`: ``memory``, ``s3``,
      ``gs``, ``az``/``abfs``, ``oss``): one put of the object, which these
      stores make visible whole or not at all;
    * any other filesystem: the data goes to a temp file beside the target,
      then ``fs.mv`` renames it over the target. Where that filesystem's
      rename refuses to replace an existing file, the old file is removed
      first: a reader may then briefly find no file, but never a torn one.

    A failed write leaves the old file in place and removes its temp file."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        _atomic_write_local(local, data)
        return
    fs, path = resolve(url)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & ATOMIC_PUT_PROTOCOLS:
        fs.pipe_file(path, bytes(data))
        return
    head, name = _split_name(path)
    if head:
        fs.makedirs(head, exist_ok=True)
    tmp = f"{head}/.{name}.tmp-{uuid.uuid4().hex}"
    try:
        fs.pipe_file(tmp, bytes(data))
        try:
            fs.mv(tmp, path)
        except OSError:
            if not fs.exists(path):
                raise
            fs.rm(path)
            fs.mv(tmp, path)
    except BaseException:
        try:
            fs.rm(tmp)
        except OSError:
            pass
        raise


def _atomic_write_local(path: str, data: bytes) -> None:
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex}")
    try:
        f = open(tmp, "xb")
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        f = open(tmp, "xb")
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (where the OS allows opening a
    directory: POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bytes(url: str) -> bytes:
    """The whole content of ``url``; FileNotFoundError when it is missing."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        with open(local, "rb") as f:
            return f.read()
    fs, path = resolve(url)
    return fs.cat_file(path)


def exists(url: str) -> bool:
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        return os.path.exists(local)
    fs, path = resolve(url)
    return fs.exists(path)


def makedirs(url: str) -> None:
    """Create directory ``url`` and its parents; an existing one is fine.
    (Object stores have no directories: there this creates nothing, and a
    later write creates the prefix.)"""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        os.makedirs(local, exist_ok=True)
        return
    fs, path = resolve(url)
    fs.makedirs(path, exist_ok=True)


def list_names(url: str) -> list[str]:
    """Names (not paths) of the entries of directory ``url``, sorted; [] when
    the directory is missing."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        try:
            return sorted(os.listdir(local))
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, path = resolve(url)
    try:
        entries = fs.ls(path, detail=False)
    except (FileNotFoundError, NotADirectoryError):
        return []
    base = path.rstrip("/")
    names = [_split_name(e)[1] for e in entries if e.rstrip("/") != base]
    return sorted(names)


def remove(url: str, recursive: bool = False) -> None:
    """Remove file ``url`` (or, with ``recursive``, directory ``url`` and all
    it holds; without it, only an empty directory). A missing ``url`` is
    fine."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        try:
            if os.path.isdir(local) and not os.path.islink(local):
                if recursive:
                    shutil.rmtree(local)
                else:
                    os.rmdir(local)
            else:
                os.unlink(local)
        except FileNotFoundError:
            pass
        return
    fs, path = resolve(url)
    try:
        fs.rm(path, recursive=recursive)
    except FileNotFoundError:
        pass


def size(url: str) -> int:
    """Size of file ``url`` in bytes; FileNotFoundError when it is missing."""
    url = _check_url(url)
    local = _local_path(url)
    if local is not None:
        return os.path.getsize(local)
    fs, path = resolve(url)
    return int(fs.size(path))
