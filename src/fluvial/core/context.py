"""SparkContext: the entry point that owns the executor, block store and scheduler.

Creating RDDs from local data and files is in :mod:`fluvial.core.sources`;
job groups, tags and status in :mod:`fluvial.core.jobs`; shipped files in
:mod:`fluvial.core.sparkfiles`.
"""
from __future__ import annotations

import importlib
import itertools
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from typing import Any, Callable, ClassVar, Iterable, Sequence, TypeVar

from .. import __version__
from . import sources
from .accumulators import Accumulator, AccumulatorParam, new_accumulator
from .broadcast import Broadcast
from .conf import SparkConf, system_properties
from .executor import InProcessExecutor, ProcessExecutor
from .jobs import JOB_DESCRIPTION, JOB_GROUP, JOB_INTERRUPT, JobTracker, SparkExecutorInfo, StatusTracker
from .scheduler import DAGScheduler
from .sparkfiles import ENV_VAR, PACKAGE_EXTENSIONS, FileRegistry, SparkFiles
from .storage import BlockStore

T = TypeVar("T")
log = logging.getLogger("fluvial")


_LOCAL_MASTER = re.compile(r"local(?:\[\s*([0-9]+|\*)\s*(?:,\s*([0-9]+)\s*)?\])?")


def _parse_local_master(master: str) -> tuple[int, int | None]:
    m = _LOCAL_MASTER.fullmatch(master.strip())
    if m is None:
        raise ValueError(f"Could not parse master URL {master!r}: fluvial runs 'local', 'local[N]', "
                         "'local[*]', 'local[N,F]' or 'local[*,F]' (N cores, F attempts per task)")
    cores, failures = m.groups()
    n = 1 if cores is None else (os.cpu_count() or 1) if cores == "*" else int(cores)
    if n < 1:
        raise ValueError(f"master URL {master!r}: the number of cores N must be at least 1")
    if failures is not None and int(failures) < 1:
        raise ValueError(f"master URL {master!r}: the number of attempts per task F must be at least 1")
    return n, None if failures is None else int(failures)


def parse_master(master: str) -> int:
    """Number of cores for a ``local``, ``local[N]``, ``local[*]``,
    ``local[N,F]`` or ``local[*,F]`` master. ValueError naming the URL otherwise."""
    return _parse_local_master(master)[0]


def task_max_failures(master: str, conf: SparkConf) -> int:
    """Attempts allowed per task before its job fails: F of a ``local[N,F]``
    or ``local[*,F]`` master (Spark's local mode with retries), otherwise
    ``spark.task.maxFailures`` (default 4).

    Unlike Spark, plain ``local`` and ``local[N]`` do not mean one attempt: with N > 1
    fluvial runs tasks in worker processes that can die on their own, as
    executors on a cluster do, so it retries as a cluster does."""
    failures = _parse_local_master(master)[1]
    if failures is not None:
        return failures
    value = conf.getInt("spark.task.maxFailures", 4)
    if value < 1:
        raise ValueError(f"spark.task.maxFailures must be at least 1 (attempts per task), got {value}")
    return value


class SparkContext:
    """Owns execution for one application. Only one may be active per process.

    ``local``/``local[1]`` runs tasks in this process; ``local[N]`` (N > 1)
    runs them in N worker processes. ``spark.fluvial.executor`` =
    ``inprocess``/``processes`` overrides the choice. Worker processes get
    the ``environment`` (and ``spark.executorEnv.*`` settings) as environment
    variables."""

    _active_spark_context: ClassVar["SparkContext | None"] = None
    _lock = threading.RLock()

    def __init__(self, master: str | None = None, appName: str | None = None, sparkHome: str | None = None,
                 pyFiles: list[str] | None = None, environment: dict | None = None, batchSize: int = 0,
                 serializer: Any = None, conf: SparkConf | None = None, gateway: Any = None,
                 jsc: Any = None, profiler_cls: Any = None, udf_profiler_cls: Any = None,
                 memory_profiler_cls: Any = None) -> None:
        with SparkContext._lock:
            if SparkContext._active_spark_context is not None:
                active = SparkContext._active_spark_context
                raise ValueError(f"Cannot run multiple SparkContexts at once; existing SparkContext"
                                 f"(app={active.appName}, master={active.master})")
            self._conf = conf if conf is not None else SparkConf()
            if master:
                self._conf.setMaster(master)
            if appName:
                self._conf.setAppName(appName)
            if sparkHome:
                self._conf.setSparkHome(sparkHome)
            for k, v in (environment or {}).items():
                self._conf.setExecutorEnv(k, v)
            if not self._conf.contains("spark.master"):
                raise ValueError("A master URL must be set in your configuration (e.g. 'local[2]')")
            if not self._conf.contains("spark.app.name"):
                raise ValueError("An application name must be set in your configuration")
            if not isinstance(batchSize, int):
                raise ValueError(f"batchSize must be an integer, got {batchSize!r}")
            self.master: str = self._conf.get("spark.master")  # type: ignore[assignment]
            self.appName: str = self._conf.get("spark.app.name")  # type: ignore[assignment]
            self.sparkHome = self._conf.get("spark.home")
            self._cores = parse_master(self.master)
            max_failures = task_max_failures(self.master, self._conf)
            self._batchSize = batchSize
            self.environment = {k[len("spark.executorEnv."):]: v for k, v in self._conf.getAll()
                                if k.startswith("spark.executorEnv.")}
            self.environment["PYTHONHASHSEED"] = os.environ.get("PYTHONHASHSEED", "0")
            self._ids = itertools.count()
            self._shuffle_ids = itertools.count()
            self._blocks = BlockStore()
            self._accumulators: "weakref.WeakValueDictionary[int, Accumulator]" = weakref.WeakValueDictionary()
            self._checkpoint_dir: str | None = None
            self._jobs = JobTracker(self._conf.getInt("spark.ui.retainedJobs", 1000),
                                    self._conf.getInt("spark.ui.retainedStages", 1000))
            self._stopped = False
            self._start_time = int(time.time() * 1000)
            self._files = FileRegistry(os.path.join(tempfile.gettempdir(), f"fluvial-files-{uuid.uuid4().hex}"))
            kind = self._conf.get("spark.fluvial.executor")
            if kind is None:
                kind = "processes" if self._cores > 1 else "inprocess"
            # Partition indexes computed in the driver (lookup) agree with the
            # workers' only when both hash strings with the same seed.
            driver_seed = "0" if sys.flags.hash_randomization == 0 else os.environ.get("PYTHONHASHSEED")
            self._driver_hash_matches_workers = (kind == "inprocess"
                                                 or driver_seed == self.environment["PYTHONHASHSEED"])
            if kind == "processes":
                env = dict(self.environment)
                env[ENV_VAR] = self._files.root
                self._executor: Any = ProcessExecutor(self._cores, max_failures, env, store=self._blocks)
            elif kind == "inprocess":
                self._executor = InProcessExecutor(self._cores, max_failures)
            else:
                shutil.rmtree(self._files.root, ignore_errors=True)
                raise ValueError(f"spark.fluvial.executor must be 'inprocess' or 'processes', got {kind!r}")
            self._executor.python_paths = [self._files.root]
            inline = (InProcessExecutor(1, max_failures) if kind == "processes" and self._driver_hash_matches_workers
                      else None)
            self._dag = DAGScheduler(self._executor, self._blocks, self._merge_accumulators, tracker=self._jobs,
                                     inline=inline)
            SparkFiles._root_directory = self._files.root
            if self._files.root not in sys.path:
                sys.path.insert(1, self._files.root)
            SparkContext._active_spark_context = self
        for path in pyFiles or []:
            self.addPyFile(path)

    # ------------------------------------------------------------- lifecycle
    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> "SparkContext":
        """The active context, or a new one from ``conf``."""
        with cls._lock:
            if cls._active_spark_context is None:
                cls(conf=conf or SparkConf())
            return cls._active_spark_context  # type: ignore[return-value]

    def stop(self) -> None:
        """Shut down worker processes, drop every stored block and the added
        files. Idempotent."""
        with SparkContext._lock:
            if self._stopped:
                return
            self._stopped = True
            self._jobs.cancel("because SparkContext was shut down", everything=True)
            self._executor.shutdown()
            self._blocks.clear()
            if SparkFiles._root_directory == self._files.root:
                SparkFiles._root_directory = None
            for p in [self._files.root] + [os.path.join(self._files.root, n) for n in self._files.python_includes]:
                if p in sys.path:
                    sys.path.remove(p)
            shutil.rmtree(self._files.root, ignore_errors=True)
            if SparkContext._active_spark_context is self:
                SparkContext._active_spark_context = None

    def __enter__(self) -> "SparkContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    # ------------------------------------------------------------ properties
    @property
    def version(self) -> str:
        return __version__

    @property
    def startTime(self) -> int:
        """When this context started, in milliseconds since the epoch."""
        return self._start_time

    @property
    def defaultParallelism(self) -> int:
        return self._conf.getInt("spark.default.parallelism", self._cores)

    @property
    def defaultMinPartitions(self) -> int:
        return min(self.defaultParallelism, 2)

    @property
    def applicationId(self) -> str:
        return self._conf.get("spark.app.id") or f"local-{self._start_time}"

    @property
    def uiWebUrl(self) -> str | None:
        return None

    @property
    def resources(self) -> dict:
        """Custom resources (GPUs, ...) assigned to the driver: none in fluvial."""
        return {}

    def getConf(self) -> SparkConf:
        """A copy of this context's configuration."""
        copy = SparkConf(loadDefaults=False)
        copy.setAll(self._conf.getAll())
        return copy

    @classmethod
    def setSystemProperty(cls, key: str, value: str) -> None:
        """Set a process-wide property; ``spark.*`` ones become defaults of every
        later ``SparkConf()``. Call before creating the context."""
        system_properties[str(key)] = str(value)

    @classmethod
    def getSystemProperty(cls, key: str) -> str | None:
        return system_properties.get(key)

    def setLogLevel(self, logLevel: str) -> None:
        """Level of the ``fluvial`` logger: ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE or WARN."""
        level = str(logLevel).upper()
        valid = {"ALL": logging.NOTSET, "DEBUG": logging.DEBUG, "ERROR": logging.ERROR,
                 "FATAL": logging.CRITICAL, "INFO": logging.INFO, "OFF": logging.CRITICAL + 10,
                 "TRACE": logging.DEBUG, "WARN": logging.WARNING}
        if level not in valid:
            raise ValueError(f"setLogLevel: logLevel must be one of {', '.join(valid)}, got {logLevel!r}")
        log.setLevel(valid[level])

    def sparkUser(self) -> str:
        import getpass
        return os.environ.get("SPARK_USER") or getpass.getuser()

    def setCheckpointDir(self, dirName: str) -> None:
        """Directory for ``RDD.checkpoint`` data: a local path (made absolute)
        or any fsspec URL (``file://``, ``memory://``, ``s3://`` ...); created
        if missing. Each context writes under its own subdirectory
        ``fluvial-<applicationId>``. The driver writes every checkpoint file,
        so a store only the driver reaches (``memory://``) works with worker
        processes too."""
        if not isinstance(dirName, str) or not dirName:
            raise ValueError(f"setCheckpointDir: dirName must be a non-empty path, got {dirName!r}")
        from . import fsio
        try:
            if not fsio.is_local(dirName):
                fsio.resolve(dirName)           # an unknown protocol is named as given
            path = fsio.join(fsio.absolute(dirName), f"fluvial-{self.applicationId}")
            fsio.makedirs(path)
        except ValueError as exc:
            raise ValueError(f"setCheckpointDir: {exc}") from exc
        self._checkpoint_dir = path

    def _checkpointFile(self, path: str) -> Any:
        """The RDD checkpointed in directory ``path`` (an ``rdd-<id>``
        directory written by ``RDD.checkpoint``, in this process or an earlier
        one): checkpointed, with the partition count and partitioner it was
        written with, and its partitions loaded into the driver's block store
        now. ValueError naming the directory and the file when its ``_meta``
        (written last, so a missing one means an interrupted write) or a part
        is missing or unreadable.

        Checkpoint files are pickles: loading one runs code, so only load
        checkpoints you wrote."""
        from . import checkpointrdd, fsio
        self._check_active()
        if not isinstance(path, str) or not path:
            raise ValueError(f"_checkpointFile: path must be a non-empty path or URL, got {path!r}")
        return checkpointrdd.load(self, fsio.absolute(path))

    def getCheckpointDir(self) -> str | None:
        return self._checkpoint_dir

    # ------------------------------------------------- job groups and tags
    def setLocalProperty(self, key: str, value: str | None) -> None:
        """Set (or with None, remove) a property of the jobs this thread starts."""
        if value is None:
            self._jobs.properties.pop(key, None)
        else:
            self._jobs.properties[key] = value

    def getLocalProperty(self, key: str) -> str | None:
        return self._jobs.properties.get(key)

    def setJobDescription(self, value: str) -> None:
        self.setLocalProperty(JOB_DESCRIPTION, value)

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        """Put the jobs this thread starts from now on in ``groupId``, so that
        ``cancelJobGroup`` and ``statusTracker`` can address them."""
        self.setLocalProperty(JOB_GROUP, groupId)
        self.setLocalProperty(JOB_DESCRIPTION, description)
        self.setInterruptOnCancel(interruptOnCancel)

    def setInterruptOnCancel(self, interruptOnCancel: bool) -> None:
        """Recorded for compatibility: cancellation never interrupts a task
        already running; the job stops waiting for it."""
        self.setLocalProperty(JOB_INTERRUPT, str(bool(interruptOnCancel)).lower())

    def addJobTag(self, tag: str) -> None:
        """Tag the jobs this thread starts from now on."""
        _check_tag(tag)
        self._jobs.set_tags(self._jobs.tags() | {tag})

    def removeJobTag(self, tag: str) -> None:
        _check_tag(tag)
        self._jobs.set_tags(self._jobs.tags() - {tag})

    def getJobTags(self) -> set[str]:
        return self._jobs.tags()

    def clearJobTags(self) -> None:
        self._jobs.set_tags(set())

    def cancelJobGroup(self, groupId: str) -> None:
        """Cancel the running jobs of ``groupId``; their actions raise JobCancelledError."""
        self._jobs.cancel(f"part of cancelled job group {groupId}", group=groupId)

    def cancelJobsWithTag(self, tag: str) -> None:
        _check_tag(tag)
        self._jobs.cancel(f"with a cancelled tag {tag}", tag=tag)

    def cancelAllJobs(self) -> None:
        self._jobs.cancel("as part of cancellation of all jobs", everything=True)

    def statusTracker(self) -> StatusTracker:
        return StatusTracker(self._jobs, self._executor_infos)

    def _executor_infos(self) -> list[SparkExecutorInfo]:
        cached = self._blocks.block_count()
        infos = [SparkExecutorInfo("localhost", 0, cached, 0, 0, 0, 0, 0)]
        infos += [SparkExecutorInfo("localhost", pid, 0, 0, 0, 0, 0, 0) for pid in self._executor.worker_pids]
        return infos

    # --------------------------------------------------------- shipped files
    def addFile(self, path: str, recursive: bool = False) -> None:
        """Copy a local file (or, with ``recursive``, a directory) into this
        context's files directory; tasks find it with ``SparkFiles.get(name)``."""
        self._check_active()
        self._files.add_file(path, recursive)
        self._executor.files_version += 1

    @property
    def listFiles(self) -> list[str]:
        """URIs of the files added with ``addFile``/``addPyFile``."""
        return list(self._files.files.values())

    def addPyFile(self, path: str) -> None:
        """``addFile``, and make it importable in the driver and in tasks
        (``.py`` files directly; ``.zip``/``.egg``/``.jar`` as path entries)."""
        self._check_active()
        name = self._files.add_file(path)
        self._executor.files_version += 1
        if name.lower().endswith(PACKAGE_EXTENSIONS) and name not in self._files.python_includes:
            self._files.python_includes.append(name)
            entry = os.path.join(self._files.root, name)
            sys.path.insert(1, entry)
            self._executor.python_paths = self._executor.python_paths + [entry]
        importlib.invalidate_caches()

    def addArchive(self, path: str) -> None:
        """Unpack a ``.zip``, ``.jar``, ``.tar``, ``.tar.gz`` or ``.tgz`` archive
        into this context's files directory; ``SparkFiles.get(name)`` is the
        unpacked directory (``name`` is the file name, or the alias after ``#``)."""
        self._check_active()
        self._files.add_archive(path)
        self._executor.files_version += 1

    @property
    def listArchives(self) -> list[str]:
        return list(self._files.archives.values())

    # --------------------------------------------------------------- creation
    def _new_rdd_id(self) -> int:
        return next(self._ids)

    def _new_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def _check_active(self) -> None:
        if self._stopped:
            raise RuntimeError("Cannot call methods on a stopped SparkContext")

    def _preload_workers(self, modules: Iterable[str]) -> None:
        """Workers import ``modules`` (and the task machinery) now, in the
        background, rather than when the first task that needs them comes."""
        self._executor.preload(sorted(modules))

    def parallelize(self, c: Iterable[T], numSlices: int | None = None) -> Any:
        """Distribute a local collection into ``numSlices`` (default
        ``defaultParallelism``) slices of consecutive elements, sliced as
        PySpark slices them."""
        self._check_active()
        return sources.parallelize(self, c, numSlices)

    def range(self, start: int, end: int | None = None, step: int = 1, numSlices: int | None = None) -> Any:
        """``parallelize(range(start, end, step))``; ``range(n)`` means 0..n-1."""
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self) -> Any:
        """An RDD with no partitions."""
        from .lineage import EmptyRDD
        self._check_active()
        return EmptyRDD(self)

    def union(self, rdds: Sequence[Any]) -> Any:
        """Concatenate RDDs. RDDs sharing one partitioner keep it (partition i
        of the result reads partition i of each), as in Spark, also when there
        is only one."""
        from .lineage import PartitionerAwareUnionRDD, UnionRDD
        self._check_active()
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union: rdds must contain at least one RDD")
        first = rdds[0].partitioner
        if first is not None and all(r.partitioner == first for r in rdds[1:]):
            return PartitionerAwareUnionRDD(self, rdds)
        return UnionRDD(self, rdds)

    def textFile(self, name: str, minPartitions: int | None = None, use_unicode: bool = True) -> Any:
        """Lines of text files (comma-separated paths, globs, directories);
        ``\\n``, ``\\r\\n`` and ``\\r`` end lines; ``.gz``/``.bz2`` files are
        decompressed. Each line is read exactly once whatever ``minPartitions``."""
        from .files import text_file_rdd
        self._check_active()
        return text_file_rdd(self, name, self._min_partitions(minPartitions), use_unicode)

    def wholeTextFiles(self, path: str, minPartitions: int | None = None, use_unicode: bool = True) -> Any:
        """``(file URI, whole content)`` per file, in path order."""
        from .files import whole_files_rdd
        self._check_active()
        return whole_files_rdd(self, path, self._min_partitions(minPartitions), "text" if use_unicode else "bytes")

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> Any:
        """``(file URI, content bytes)`` per file, in path order."""
        from .files import whole_files_rdd
        self._check_active()
        return whole_files_rdd(self, path, self._min_partitions(minPartitions), "binary")

    def binaryRecords(self, path: str, recordLength: int) -> Any:
        """Fixed-length records of ``recordLength`` bytes; a file whose size is
        not a multiple fails the task, naming the file."""
        from .files import binary_records_rdd
        self._check_active()
        return binary_records_rdd(self, path, recordLength)

    def pickleFile(self, name: str, minPartitions: int | None = None) -> Any:
        """Records written by ``RDD.saveAsPickleFile``, in their saved order."""
        from .files import pickle_file_rdd
        self._check_active()
        self._min_partitions(minPartitions)
        return pickle_file_rdd(self, name)

    def _min_partitions(self, minPartitions: int | None) -> int:
        if minPartitions is None or minPartitions == 0:
            return self.defaultMinPartitions
        if isinstance(minPartitions, bool) or not isinstance(minPartitions, int) or minPartitions < 0:
            raise ValueError(f"minPartitions must be a positive integer, got {minPartitions!r}")
        return minPartitions

    def broadcast(self, value: T) -> Broadcast[T]:
        """A read-only value shipped to each worker once."""
        self._check_active()
        return Broadcast(self, value)

    def accumulator(self, value: T, accum_param: AccumulatorParam[T] | None = None) -> Accumulator[T]:
        """An add-only variable; each successful task's additions count once."""
        acc = new_accumulator(value, accum_param)
        self._accumulators[acc.aid] = acc
        return acc

    def _merge_accumulators(self, updates: dict) -> None:
        for aid, update in updates.items():
            acc = self._accumulators.get(aid)
            if acc is not None:
                acc._merge(update)

    # ----------------------------------------------------------------- jobs
    def runJob(self, rdd: Any, partitionFunc: Callable[[Any], Iterable[Any]],
               partitions: Sequence[int] | None = None, allowLocal: bool = False) -> list:
        """Run ``partitionFunc(iterator)`` on the given partitions (default all)
        and concatenate the iterables it returns, in the order of ``partitions``
        (as PySpark does)."""
        results = self._run_job(rdd, lambda it: list(partitionFunc(it)), partitions)
        return [x for part in results for x in part]

    def _run_job(self, rdd: Any, func: Callable[[Any], Any], partitions: Iterable[int] | None = None,
                 checkpoint: bool = True) -> list:
        """One ``func`` result per partition, in the order of ``partitions``.

        After the job, RDDs in the lineage marked with ``checkpoint()`` are
        written out and their lineage is cut."""
        self._check_active()
        job = self._jobs.start_job()
        ok = False
        try:
            results = self._dag.run_job(rdd, func, partitions, description=job.description or "", job=job)
            ok = True
        finally:
            self._jobs.end_job(job, ok)
        if checkpoint:
            self._checkpoint_lineage(rdd)
        return results

    def _checkpoint_lineage(self, rdd: Any) -> None:
        stack, seen, marked = [rdd], set(), []
        while stack:
            r = stack.pop()
            if r._id in seen or r._checkpointed:
                continue
            seen.add(r._id)
            if r._checkpoint_requested:
                marked.append(r)
            stack.extend(d.rdd for d in r._deps)
        for r in reversed(marked):
            r._do_checkpoint()


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"Spark job tag cannot be an empty string, got {tag!r}")
    if "," in tag:
        raise ValueError(f"Spark job tag cannot contain ',', got {tag!r}")
