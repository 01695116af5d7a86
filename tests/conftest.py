"""Shared fixtures, and a watchdog that ends a test run stuck in one test.

``sc`` is parametrised over both executors (in-process and worker processes),
so every test that takes it checks that both give the same results. It is
module-scoped: worker processes start once per module and executor kind.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import threading

import pytest

from support import EXECUTORS, make_context

@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request: pytest.FixtureRequest):
    context = make_context(request.param)
    yield context
    context.stop()


def _end_run(item: pytest.Item, limit: float) -> None:
    """Print what the stuck test printed and every thread's stack, then exit."""
    capman = item.config.pluginmanager.getplugin("capturemanager")
    captured = ("", "")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
        captured = capman.read_global_capture()   # pytest-timeout's report of the first limit, logs
    item.config.get_terminal_writer().flush()
    sys.stdout.flush()
    for name, text in zip(("stdout", "stderr"), captured):
        if text:
            sys.stderr.write(f"\n+++ captured {name} of {item.nodeid}:\n{text}")
    sys.stderr.write(f"\n+++ {item.nodeid} still running after {limit:.0f} s; "
                     "ending the test run. Stacks of all threads:\n")
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(3)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A watchdog per test. pytest-timeout's limit (pyproject ``timeout``, or
    the test's mark) fails a test by raising in the main thread; if the test's
    cleanup then blocks too (joining a deadlocked thread), nothing would end
    the run before CI's own limit, with nothing printed. At twice the limit
    the watchdog ends the whole run, showing where every thread is."""
    marker = item.get_closest_marker("timeout")
    if marker and marker.args:
        soft = float(marker.args[0])
    elif item.config.pluginmanager.hasplugin("timeout"):
        soft = float(item.config.getini("timeout") or 0)
    else:
        soft = 0.0  # pytest-timeout is not installed: no limit to watch
    if soft <= 0:
        return (yield)
    limit = 2 * soft
    watchdog = threading.Timer(limit, _end_run, args=(item, limit))
    watchdog.daemon = True
    watchdog.start()
    try:
        return (yield)
    finally:
        watchdog.cancel()
