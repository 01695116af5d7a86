"""Fixtures for the example tests (helpers are in example_support.py)."""
from __future__ import annotations

import pytest

from example_support import LineServer


@pytest.fixture
def line_server():
    servers: list[LineServer] = []

    def make(lines: list[str]) -> LineServer:
        server = LineServer(lines)
        servers.append(server)
        return server
    yield make
    for s in servers:
        s.close()
