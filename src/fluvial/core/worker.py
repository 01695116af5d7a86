"""Worker process main loop: receive a task, run it, send the result back.

Started by :class:`fluvial.core.executor.ProcessExecutor` as
``python -m fluvial.core.worker FD`` where FD is its end of a socket pair.
Stages are cached by id, so a stage's pickled lineage crosses the pipe once
per worker. A failure goes back as the pickled exception (None when it cannot
be pickled), its traceback text and whether it is retryable, so the driver
can retry even an exception it cannot rebuild. The worker exits when the driver closes the pipe; it ignores
SIGINT, so Ctrl-C in a terminal reaches only the driver, which shuts it down.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection

import cloudpickle

from . import broadcast as _broadcast
from .table import block_bytes
from .task import is_retryable, run_task


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    stages: dict[int, object] = {}
    blocks: dict[tuple, object] = {}  # cached partitions this worker keeps for the driver
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            request = pickle.loads(message)
            for bid in request[-1]:  # blocks the driver no longer needs
                blocks.pop(bid, None)
            if request[0] == "fetch":
                reply = cloudpickle.dumps(("ok", {bid: block_bytes(blocks[bid]) for bid in request[1]}), protocol=5)
            else:
                reply = cloudpickle.dumps(("ok", _task(request, stages, blocks)), protocol=5)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the driver
            tb_text = traceback.format_exc()
            try:
                exc_bytes = cloudpickle.dumps(exc, protocol=5)
                pickle.loads(exc_bytes)
            except Exception:  # noqa: BLE001
                exc_bytes = None
            reply = cloudpickle.dumps(("err", (exc_bytes, tb_text, is_retryable(exc))), protocol=5)
        try:
            conn.send_bytes(reply)
        except (EOFError, OSError):
            return


def _task(request: tuple, stages: dict, blocks: dict) -> object:
    (_, paths, stage_id, stage_bytes, split, attempt, inputs, resident, keep,
     new_bcasts, dropped_bcasts, _dropped_blocks) = request
    for path in paths:  # sc.addPyFile files: importable before anything user-defined is unpickled
        if path not in sys.path:
            sys.path.insert(1, path)
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
