"""Shared fixtures.

``sc`` is parametrised over both executors (in-process and worker processes),
so every test that takes it checks that both give the same results. It is
module-scoped: worker processes start once per module and executor kind.
"""
from __future__ import annotations

import pytest

from fluvial import SparkConf, SparkContext

EXECUTORS = ["inprocess", "processes"]


def make_context(executor: str, cores: int = 2, **conf: str) -> SparkContext:
    c = SparkConf().setMaster(f"local[{cores}]").setAppName("fluvial-tests")
    c.set("spark.fluvial.executor", executor)
    for k, v in conf.items():
        c.set(k, v)
    return SparkContext(conf=c)


@pytest.fixture(scope="module", params=EXECUTORS)
def sc(request: pytest.FixtureRequest):
    context = make_context(request.param)
    yield context
    context.stop()
