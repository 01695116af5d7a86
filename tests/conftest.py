"""Shared fixtures.

``sc`` is parametrised over both executors (in-process and worker processes),
so every test that takes it checks that both give the same results. It is
module-scoped: worker processes start once per module and executor kind.
"""
from __future__ import annotations

import pytest

from support import EXECUTORS, make_context

@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request: pytest.FixtureRequest):
    context = make_context(request.param)
    yield context
    context.stop()
