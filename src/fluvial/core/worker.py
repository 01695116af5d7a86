"""Worker process main loop: receive a task, run it, send the result back.

Started by :class:`fluvial.core.executor.ProcessExecutor` as
``python -m fluvial.core.worker FD`` where FD is its end of a socket pair.
Stages are cached by id, so a stage's pickled lineage crosses the pipe once
per worker. A failure goes back as the pickled exception (None when it cannot
be pickled), its traceback text and whether it is retryable, so the driver
can retry even an exception it cannot rebuild. The worker exits when the driver closes the pipe
(or dies, which closes it); it ignores SIGINT and SIGTERM, so Ctrl-C in a terminal, or a SIGTERM
to the whole process group (``timeout``, ``kill -- -PGID``, service managers), reaches only the
driver, whose graceful stop then still has its workers; the driver shuts them down.

Workers start while the driver is still busy (creating RDDs, starting a
stream), so a worker imports the engine only when its first request arrives:
until then it competes with the driver for the CPU as little as possible.
This module itself imports nothing but ``gc``, ``os`` and ``signal``.

A worker runs the cyclic garbage collector's youngest generation every
:data:`GC_YOUNG_THRESHOLD` net container allocations instead of Python's
700. A task that builds tens of thousands of groups (``(key, [values])``
pairs) otherwise pays for dozens of collections that find nothing: in the
benchmark's running count, 0.21 s of collections per worker over 10 batches
of 100k lines at 700, 0.10 s at 10,000, 0.01 s at 25,000 and none at
100,000 (about 10% of a batch). Cyclic garbage is still collected, at most
that many allocations late: the bound is in containers, not bytes, so a
task building a tree with parent links per record (as HTML parsers do) may
hold that many containers of it between collections.
"""
from __future__ import annotations

import gc
import os
import signal
import sys

_BIG = 0x7FFFFFFF
GC_YOUNG_THRESHOLD = 100_000
"""Net allocations of containers between two collections of the youngest
generation, in a worker (Python's default: 700)."""
_files_version = 0  # the driver's ``files_version`` this worker's import caches are up to date with


class Pipe:
    """One end of a worker's socket pair, as a file descriptor carrying
    length-prefixed messages (the framing of
    :class:`multiprocessing.connection.Connection`: a 4-byte big-endian
    signed length, or -1 and an 8-byte length for messages over 2 GiB).
    Blocking; one thread at a time per direction."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send_bytes(self, data: bytes) -> None:
        n = len(data)
        header = (n.to_bytes(4, "big") if n <= _BIG
                  else (-1).to_bytes(4, "big", signed=True) + n.to_bytes(8, "big"))
        if n <= 16384:
            self._write(header + data)
        else:
            self._write(header)
            self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def recv_bytes(self) -> bytearray:
        """The next message. EOFError when the other end closed the pipe
        between messages, OSError when it closed it within one."""
        size = int.from_bytes(self._read(4, True), "big", signed=True)
        if size == -1:
            size = int.from_bytes(self._read(8, False), "big")
        return self._read(size, False)

    def _read(self, size: int, at_start: bool) -> bytearray:
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = os.readv(self.fd, [view[got:]])
            if n == 0:
                if at_start and got == 0:
                    raise EOFError
                raise OSError("got end of file during message")
            got += n
        return buf

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    pipe = Pipe(fd)
    stages: dict[int, object] = {}
    blocks: dict[tuple, object] = {}  # cached partitions this worker keeps for the driver
    while True:
        try:
            message = pipe.recv_bytes()
        except (EOFError, OSError):
            return
        reply = _reply(message, stages, blocks)
        try:
            pipe.send_bytes(reply)
        except (EOFError, OSError):
            return


def _reply(message: bytearray, stages: dict, blocks: dict) -> bytes:
    import pickle

    import cloudpickle

    from .table import block_bytes
    from .task import is_retryable
    try:
        request = pickle.loads(message)
        for bid in request[-1]:  # blocks the driver no longer needs
            blocks.pop(bid, None)
        if request[0] == "fetch":
            return cloudpickle.dumps(("ok", {bid: block_bytes(blocks[bid]) for bid in request[1]}), protocol=5)
        if request[0] == "save":  # a checkpoint written where the block is, not via the driver
            from .fsio import atomic_write
            for bid, url in request[1]:
                atomic_write(url, block_bytes(blocks[bid]))
            return cloudpickle.dumps(("ok", None), protocol=5)
        if request[0] == "preload":
            _preload(request[1])
            return cloudpickle.dumps(("ok", None), protocol=5)
        return cloudpickle.dumps(("ok", _task(request, stages, blocks)), protocol=5)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the driver
        import traceback
        tb_text = traceback.format_exc()
        try:
            exc_bytes = cloudpickle.dumps(exc, protocol=5)
            pickle.loads(exc_bytes)
        except Exception:  # noqa: BLE001
            exc_bytes = None
        return cloudpickle.dumps(("err", (exc_bytes, tb_text, is_retryable(exc))), protocol=5)


def _preload(modules: list[str]) -> None:
    """Import what tasks will need before they come: the task machinery and
    ``modules``. One that fails to import is skipped; the task needing it
    then fails with the real error."""
    import importlib

    from . import broadcast, lineage, task  # noqa: F401 - every task uses them
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optimisation only
            pass


def _task(request: tuple, stages: dict, blocks: dict) -> object:
    import pickle

    from . import broadcast as _broadcast
    from .task import run_task
    global _files_version
    (_, paths, files_version, stage_id, stage_bytes, split, attempt, inputs, resident, keep,
     new_bcasts, dropped_bcasts, _dropped_blocks) = request
    for path in paths:  # sc.addPyFile files: importable before anything user-defined is unpickled
        if path not in sys.path:
            sys.path.insert(1, path)
    if files_version != _files_version:
        # Files were added to those directories since the last task: forget
        # what the import system cached of them (including "no such
        # directory", cached when a task imported something before the first
        # file created the directory).
        import importlib
        importlib.invalidate_caches()
        _files_version = files_version
    for bid, value_bytes in new_bcasts.items():
        _broadcast.install_worker_value(bid, value_bytes)
    for bid in dropped_bcasts:
        _broadcast.drop_worker_value(bid)
    if stage_bytes is not None:
        if len(stages) >= 64:
            stages.clear()
        stages[stage_id] = pickle.loads(stage_bytes)
    for bid in resident:
        if bid not in blocks:
            raise KeyError(f"block {bid} is not kept by this worker (pid {os.getpid()})")
        inputs[bid] = blocks[bid]
    result = run_task(stages[stage_id], split, inputs, attempt)  # type: ignore[arg-type]
    if keep and result.new_blocks:
        blocks.update(result.new_blocks)
        result.new_blocks = dict.fromkeys(result.new_blocks)
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]))
