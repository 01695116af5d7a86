"""SIGTERM stops a running streaming application gracefully.

Spark stops the StreamingContext from a JVM shutdown hook; fluvial does it on
SIGTERM (what ``kill``, systemd, Kubernetes and most supervisors send). While
a context started from the main thread is active, SIGTERM stops it with
``stopGraceFully`` = ``spark.streaming.stopGracefullyOnShutdown`` (default
**true** in fluvial, so everything already received is processed first; false
drops batches not yet started) and stops its SparkContext. Then:

* a main thread blocked in ``awaitTermination`` returns from it normally, so
  the program ends as it would after ``stop()``;
* otherwise the process exits as SIGTERM would have made it (exit status
  143) once the stop has finished, through ``SystemExit`` in the main thread
  (``finally`` blocks and ``atexit`` handlers run).

A second SIGTERM during the stop is ignored; SIGKILL still kills at once. The
previous handler is put back when the context stops.
"""
from __future__ import annotations

import _thread
import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from .context import StreamingContext

log = logging.getLogger("fluvial.streaming")

_waiting = threading.Event()  # the main thread is inside awaitTermination
_entered = threading.Event()  # the main thread entered awaitTermination since the last SIGTERM


@contextlib.contextmanager
def awaiting() -> Iterator[None]:
    """Mark the main thread as waiting in ``awaitTermination``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _waiting.set()
    _entered.set()
    try:
        yield
    finally:
        _waiting.clear()


class ShutdownHook:
    def __init__(self, ssc: "StreamingContext", previous: Any) -> None:
        self.ssc = ssc
        self.previous = previous
        self.stopping = False
        self.stopped_by_signal = False
        self.deferred = False
        self.ready = False

    @classmethod
    def install(cls, ssc: "StreamingContext") -> "ShutdownHook | None":
        """Take over SIGTERM for ``ssc`` (only possible from the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            log.debug("context started outside the main thread: SIGTERM is not handled")
            return None
        hook = cls(ssc, signal.getsignal(signal.SIGTERM))
        signal.signal(signal.SIGTERM, hook._on_sigterm)
        return hook

    def uninstall(self) -> None:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self.previous if self.previous is not None else signal.SIG_DFL)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if self.stopped_by_signal:  # the stop finished: end the process as SIGTERM would
            raise SystemExit(128 + signum)
        if self.stopping:
            return
        if not self.ready:  # start() is still running: stop once it has finished
            self.deferred = True
            return
        if self.ssc.getState() != "ACTIVE":
            self._deliver_to_previous(signum, frame)
            return
        self.fire()

    def started(self) -> None:
        """start() finished: act on a SIGTERM that arrived during it."""
        self.ready = True
        if self.deferred:
            self.fire()

    def fire(self) -> None:
        self.stopping = True
        graceful = self.ssc._sc._conf.getBoolean("spark.streaming.stopGracefullyOnShutdown", True)
        log.warning("SIGTERM received: stopping the StreamingContext %s", "gracefully" if graceful else "now")
        _entered.clear()
        threading.Thread(target=self._stop, args=(graceful,), name="fluvial-sigterm-stop").start()

    def _stop(self, graceful: bool) -> None:
        try:
            self.ssc.stop(stopSparkContext=True, stopGraceFully=graceful)
        finally:
            # a main thread that waits (or comes to wait) in awaitTermination
            # returns from it; any other is ended as SIGTERM would end it
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                if _waiting.is_set() or _entered.is_set() or not threading.main_thread().is_alive():
                    return
                time.sleep(0.01)
            self.stopped_by_signal = True
            _thread.interrupt_main(signal.SIGTERM)

    def _deliver_to_previous(self, signum: int, frame: Any) -> None:
        prev = self.previous
        if callable(prev):
            prev(signum, frame)
        elif prev != signal.SIG_IGN:
            raise SystemExit(128 + signum)
