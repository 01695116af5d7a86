"""Files shipped with ``SparkContext.addFile``/``addPyFile``/``addArchive``.

Each SparkContext copies added files into its own root directory (a fresh
temporary directory, removed by ``stop``). Worker processes run on the same
machine and read that directory, whose path they receive in the environment
variable ``FLUVIAL_SPARK_FILES``; :meth:`SparkFiles.get` works in the driver
and in tasks alike.
"""
from __future__ import annotations

import os
import shutil
from typing import ClassVar

ENV_VAR = "FLUVIAL_SPARK_FILES"
PACKAGE_EXTENSIONS = (".zip", ".egg", ".jar")
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".tar.gz", ".tgz", ".jar")


class SparkFiles:
    """Where files added to the context can be read (class methods only)."""

    _root_directory: ClassVar[str | None] = None

    def __init__(self) -> None:
        raise TypeError("SparkFiles is not instantiated; use SparkFiles.get(filename)")

    @classmethod
    def get(cls, filename: str) -> str:
        """Absolute path of an added file (or unpacked archive directory)."""
        return os.path.abspath(os.path.join(cls.getRootDirectory(), filename))

    @classmethod
    def getRootDirectory(cls) -> str:
        """The directory holding every added file."""
        root = cls._root_directory or os.environ.get(ENV_VAR)
        if not root:
            raise RuntimeError("SparkFiles: no active SparkContext (files are added with sc.addFile)")
        return root


def local_path(path: str) -> str:
    """A local filesystem path from a plain path or a ``file:`` URI."""
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    if "://" in path:
        raise ValueError(f"path {path!r}: only local files (plain paths or file: URIs) can be added")
    return path


class FileRegistry:
    """The files and archives added to one context, copied under ``root``.

    Guarantees (as Spark's): adding the same path again is a no-op; adding a
    different path with an already used file name raises ValueError. The
    root directory is created (private to the user) when the first file or
    archive is added, so a context that adds none leaves nothing behind even
    when its process is killed."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.files: dict[str, str] = {}      # name -> uri
        self.archives: dict[str, str] = {}   # name -> uri
        self.python_includes: list[str] = []

    def add_file(self, path: str, recursive: bool = False) -> str:
        src = os.path.abspath(local_path(path))
        if not os.path.exists(src):
            raise FileNotFoundError(f"addFile: path {path!r} does not exist")
        if os.path.isdir(src) and not recursive:
            raise ValueError(f"addFile: {path!r} is a directory and recursive is not turned on")
        name = os.path.basename(src.rstrip(os.sep))
        uri = "file:" + src
        if self._registered(self.files, name, uri, path):
            return name
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        dest = os.path.join(self.root, name)
        if os.path.isdir(src):
            shutil.copytree(src, dest)
        else:
            shutil.copyfile(src, dest)
        self.files[name] = uri
        return name

    def add_archive(self, path: str) -> str:
        src_spec, _, alias = path.partition("#")
        src = os.path.abspath(local_path(src_spec))
        if not os.path.isfile(src):
            raise FileNotFoundError(f"addArchive: path {path!r} is not an existing file")
        lowered = src.lower()
        if not lowered.endswith(ARCHIVE_EXTENSIONS):
            raise ValueError(f"addArchive: {path!r} is not a supported archive "
                             f"({', '.join(ARCHIVE_EXTENSIONS)})")
        name = alias or os.path.basename(src)
        uri = "file:" + src + (f"#{alias}" if alias else "")
        if self._registered(self.archives, name, uri, path):
            return name
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        fmt = "zip" if lowered.endswith((".zip", ".jar")) else "gztar" if lowered.endswith(("gz", "tgz")) else "tar"
        shutil.unpack_archive(src, os.path.join(self.root, name), fmt)
        self.archives[name] = uri
        return name

    @staticmethod
    def _registered(table: dict[str, str], name: str, uri: str, path: str) -> bool:
        old = table.get(name)
        if old is None:
            return False
        if old != uri:
            raise ValueError(f"File {name} was already registered with a different path "
                             f"(old path = {old}, new path = {path})")
        return True
