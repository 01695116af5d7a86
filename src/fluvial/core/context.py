"""SparkContext: the entry point that owns the executor, block store and scheduler."""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Sequence, TypeVar

from .accumulators import Accumulator, AccumulatorParam, new_accumulator
from .broadcast import Broadcast
from .conf import SparkConf
from .executor import InProcessExecutor, ProcessExecutor
from .scheduler import DAGScheduler
from .storage import BlockStore

T = TypeVar("T")
log = logging.getLogger("fluvial")

__version__ = "0.1.0"


def parse_master(master: str) -> int:
    """Number of cores for a ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]`` master."""
    m = master.strip()
    if m == "local":
        return 1
    if m.startswith("local[") and m.endswith("]"):
        inner = m[6:-1].split(",")[0].strip()
        if inner == "*":
            return os.cpu_count() or 1
        if inner.isdigit() and int(inner) > 0:
            return int(inner)
    raise ValueError(f"Could not parse master URL {master!r}: fluvial runs 'local', 'local[N]' "
                     "or 'local[*]'")


class SparkContext:
    """Owns execution for one application. Only one may be active per process.

    ``local``/``local[1]`` runs tasks in this process; ``local[N]`` (N > 1)
    runs them in N worker processes. ``spark.fluvial.executor`` =
    ``inprocess``/``processes`` overrides the choice."""

    _active_spark_context: "SparkContext | None" = None
    _lock = threading.RLock()

    def __init__(self, master: str | None = None, appName: str | None = None, sparkHome: str | None = None,
                 pyFiles: Any = None, environment: dict | None = None, batchSize: int = 0,
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
            self.master: str = self._conf.get("spark.master")  # type: ignore[assignment]
            self.appName: str = self._conf.get("spark.app.name")  # type: ignore[assignment]
            self.sparkHome = self._conf.get("spark.home")
            self._cores = parse_master(self.master)
            self.environment = dict(environment or {})
            self._ids = itertools.count()
            self._shuffle_ids = itertools.count()
            self._blocks = BlockStore()
            self._accumulators: "weakref.WeakValueDictionary[int, Accumulator]" = weakref.WeakValueDictionary()
            self._checkpoint_dir: str | None = None
            self._local_properties: dict[str, str] = {}
            self._job_group: tuple[str, str] | None = None
            self._stopped = False
            self.startTime = int(time.time() * 1000)
            kind = self._conf.get("spark.fluvial.executor")
            if kind is None:
                kind = "processes" if self._cores > 1 else "inprocess"
            if kind == "processes":
                self._executor: Any = ProcessExecutor(self._cores, self._conf.getInt("spark.task.maxFailures", 4))
            elif kind == "inprocess":
                self._executor = InProcessExecutor(self._cores)
            else:
                raise ValueError(f"spark.fluvial.executor must be 'inprocess' or 'processes', got {kind!r}")
            self._dag = DAGScheduler(self._executor, self._blocks, self._merge_accumulators)
            SparkContext._active_spark_context = self

    # ------------------------------------------------------------- lifecycle
    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> "SparkContext":
        with cls._lock:
            if cls._active_spark_context is None:
                cls(conf=conf or SparkConf())
            return cls._active_spark_context  # type: ignore[return-value]

    def stop(self) -> None:
        """Shut down worker processes and drop every stored block. Idempotent."""
        with SparkContext._lock:
            if self._stopped:
                return
            self._stopped = True
            self._executor.shutdown()
            self._blocks.clear()
            if SparkContext._active_spark_context is self:
                SparkContext._active_spark_context = None

    def __enter__(self) -> "SparkContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ properties
    @property
    def version(self) -> str:
        return __version__

    @property
    def defaultParallelism(self) -> int:
        return self._conf.getInt("spark.default.parallelism", self._cores)

    @property
    def defaultMinPartitions(self) -> int:
        return min(self.defaultParallelism, 2)

    @property
    def applicationId(self) -> str:
        return f"local-{self.startTime}"

    @property
    def uiWebUrl(self) -> str | None:
        return None

    def getConf(self) -> SparkConf:
        copy = SparkConf()
        copy.setAll(self._conf.getAll())
        return copy

    def setLogLevel(self, logLevel: str) -> None:
        level = logLevel.upper()
        valid = {"ALL": logging.NOTSET, "DEBUG": logging.DEBUG, "ERROR": logging.ERROR,
                 "FATAL": logging.CRITICAL, "INFO": logging.INFO, "OFF": logging.CRITICAL + 10,
                 "TRACE": logging.DEBUG, "WARN": logging.WARNING}
        if level not in valid:
            raise ValueError(f"setLogLevel: unknown level {logLevel!r}; use one of {', '.join(valid)}")
        log.setLevel(valid[level])

    def setLocalProperty(self, key: str, value: str) -> None:
        self._local_properties[key] = value

    def getLocalProperty(self, key: str) -> str | None:
        return self._local_properties.get(key)

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        self._job_group = (groupId, description)

    def setJobDescription(self, value: str) -> None:
        self._local_properties["spark.job.description"] = value

    def sparkUser(self) -> str:
        import getpass
        return getpass.getuser()

    def setCheckpointDir(self, dirName: str) -> None:
        os.makedirs(dirName, exist_ok=True)
        self._checkpoint_dir = dirName

    def getCheckpointDir(self) -> str | None:
        return self._checkpoint_dir

    # --------------------------------------------------------------- creation
    def _new_rdd_id(self) -> int:
        return next(self._ids)

    def _new_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def _check_active(self) -> None:
        if self._stopped:
            raise RuntimeError("Cannot call methods on a stopped SparkContext")

    def parallelize(self, c: Iterable[T], numSlices: int | None = None) -> Any:
        """Distribute a local collection: ``numSlices`` (default
        ``defaultParallelism``) contiguous slices, in order."""
        from .lineage import ParallelCollectionRDD
        self._check_active()
        n = self.defaultParallelism if numSlices is None else numSlices
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"numSlices must be a positive integer, got {numSlices!r}")
        data = c if isinstance(c, (list, tuple, range)) else list(c)
        size = len(data)
        slices = [list(data[i * size // n:(i + 1) * size // n]) for i in range(n)]
        return ParallelCollectionRDD(self, slices)

    def range(self, start: int, end: int | None = None, step: int = 1, numSlices: int | None = None) -> Any:
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self) -> Any:
        from .lineage import EmptyRDD
        self._check_active()
        return EmptyRDD(self)

    def union(self, rdds: Sequence[Any]) -> Any:
        """Concatenate RDDs. RDDs sharing one partitioner keep it (partition i
        of the result reads partition i of each)."""
        from .lineage import PartitionerAwareUnionRDD, UnionRDD
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union needs at least one RDD")
        first = rdds[0].partitioner
        if first is not None and all(r.partitioner == first for r in rdds[1:]) and len(rdds) > 1:
            return PartitionerAwareUnionRDD(self, rdds)
        return UnionRDD(self, rdds)

    def textFile(self, name: str, minPartitions: int | None = None, use_unicode: bool = True) -> Any:
        from .files import text_file_rdd
        self._check_active()
        return text_file_rdd(self, name, minPartitions or self.defaultMinPartitions, use_unicode)

    def wholeTextFiles(self, path: str, minPartitions: int | None = None, use_unicode: bool = True) -> Any:
        from .files import whole_files_rdd
        self._check_active()
        return whole_files_rdd(self, path, minPartitions or self.defaultMinPartitions, "text")

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> Any:
        from .files import whole_files_rdd
        self._check_active()
        return whole_files_rdd(self, path, minPartitions or self.defaultMinPartitions, "binary")

    def binaryRecords(self, path: str, recordLength: int) -> Any:
        from .files import binary_records_rdd
        self._check_active()
        return binary_records_rdd(self, path, recordLength)

    def pickleFile(self, name: str, minPartitions: int | None = None) -> Any:
        from .files import pickle_file_rdd
        self._check_active()
        return pickle_file_rdd(self, name)

    def broadcast(self, value: T) -> Broadcast[T]:
        self._check_active()
        return Broadcast(self, value)

    def accumulator(self, value: T, accum_param: AccumulatorParam[T] | None = None) -> Accumulator[T]:
        acc = new_accumulator(value, accum_param)
        self._accumulators[acc.aid] = acc
        return acc

    def _merge_accumulators(self, updates: dict) -> None:
        for aid, update in updates.items():
            acc = self._accumulators.get(aid)
            if acc is not None:
                acc._merge(update)

    # ----------------------------------------------------------------- jobs
    def runJob(self, rdd: Any, partitionFunc: Callable[[Any], Any], partitions: Sequence[int] | None = None,
               allowLocal: bool = False) -> list:
        """Run ``partitionFunc(iterator)`` on the given partitions; results in order.

        After the job, RDDs in the lineage marked with ``checkpoint()`` are
        written out and their lineage is cut."""
        self._check_active()
        results = self._dag.run_job(rdd, partitionFunc, partitions)
        self._checkpoint_lineage(rdd)
        return results

    def _checkpoint_lineage(self, rdd: Any) -> None:
        stack, seen, marked = [rdd], set(), []
        while stack:
            r = stack.pop()
            if r.id in seen or r._checkpointed:
                continue
            seen.add(r.id)
            if r._checkpoint_requested:
                marked.append(r)
            stack.extend(d.rdd for d in r._deps)
        for r in reversed(marked):
            r._do_checkpoint()
