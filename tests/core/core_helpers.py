"""Helpers shared by the core tests (the ``sc`` fixture is in tests/conftest.py)."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fluvial import SparkConf, SparkContext

HYPO = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

keys = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "c", "", "é"]), st.none(),
                 st.tuples(st.integers(0, 2), st.sampled_from(["x", "y"])))
pairs = st.lists(st.tuples(keys, st.integers(-100, 100)), max_size=40)
ints = st.lists(st.integers(-50, 50), max_size=40)
partitions = st.integers(1, 5)


def context(executor: str = "inprocess", cores: int = 2, **conf: str) -> SparkContext:
    c = SparkConf().setMaster(f"local[{cores}]").setAppName("fluvial-core-tests")
    c.set("spark.fluvial.executor", executor)
    for k, v in conf.items():
        c.set(k, v)
    return SparkContext(conf=c)


def group(kvs: list) -> dict:
    """Plain-Python groupByKey: key -> values in input order."""
    out: dict = {}
    for k, v in kvs:
        out.setdefault(k, []).append(v)
    return out


def as_multiset(xs: list) -> list:
    return sorted(xs, key=repr)
