"""SparkContext lifecycle: one active context, getOrCreate, stop, system
properties, executor choice and worker environment (each test owns its context)."""
from __future__ import annotations

import os

import pytest
from core_helpers import context

from fluvial import SparkConf, SparkContext


def test_single_active_context_and_lifecycle():
    SparkContext.setSystemProperty("spark.fluvial.test.prop", "on")
    try:
        sc = context("inprocess", cores=1)
        try:
            assert SparkContext.getOrCreate() is sc
            assert sc.getConf().get("spark.fluvial.test.prop") == "on"
            assert SparkContext.getSystemProperty("spark.fluvial.test.prop") == "on"
            with pytest.raises(ValueError, match="multiple SparkContexts"):
                SparkContext("local", "second")
        finally:
            sc.stop()
        sc.stop()
        with pytest.raises(RuntimeError, match="stopped SparkContext"):
            sc.parallelize([1])
    finally:
        from fluvial.core.conf import system_properties
        system_properties.pop("spark.fluvial.test.prop", None)
    with SparkContext(conf=SparkConf().setMaster("local[1]").setAppName("ctx")) as again:
        assert again.parallelize([1, 2]).count() == 2
    with pytest.raises(ValueError, match="master URL 'yarn'"):
        SparkContext("yarn", "x")
    with pytest.raises(ValueError, match="spark.fluvial.executor.*'threads'"):
        context("threads")


def test_environment_reaches_worker_processes():
    sc = SparkContext(conf=SparkConf().setMaster("local[2]").setAppName("env")
                      .set("spark.fluvial.executor", "processes"), environment={"FLUVIAL_TEST_ENV": "yes"})
    try:
        assert sc.environment["FLUVIAL_TEST_ENV"] == "yes"
        assert sc.parallelize([0], 1).map(lambda _: os.environ.get("FLUVIAL_TEST_ENV")).collect() == ["yes"]
    finally:
        sc.stop()
