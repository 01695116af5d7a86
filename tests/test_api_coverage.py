"""Every public method of PySpark 4.3's RDD, SparkContext, DStream and
StreamingContext exists in fluvial, except the documented exclusions.

How ``tests/data/pyspark_api.json`` was made: PySpark 4.3's sources were
parsed with :mod:`ast` (``core/rdd.py``, ``core/context.py``,
``streaming/dstream.py``, ``streaming/context.py``); for each of the four
classes, the names of the ``def`` statements directly in the class body that
do not start with ``_`` were collected (overloads counted once; properties and
class methods are ``def`` statements too, so they are included). That is
exactly what :func:`public_methods` below does; ``test_api_list_matches_reference``
re-derives the lists when the reference sources are present (set
``PYSPARK_REF`` to their directory; default ``/work/ref/pyspark``).

``excluded`` maps ``Class.name`` to the reason the method cannot apply
without a JVM/Hadoop or a cluster manager.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
from pathlib import Path

import pytest

API = json.loads((Path(__file__).parent / "data" / "pyspark_api.json").read_text())
REF = Path(os.environ.get("PYSPARK_REF", "/work/ref/pyspark"))
SOURCES = {"RDD": "core/rdd.py", "SparkContext": "core/context.py",
           "DStream": "streaming/dstream.py", "StreamingContext": "streaming/context.py"}
FLUVIAL = {"RDD": ("fluvial", "RDD"), "SparkContext": ("fluvial", "SparkContext"),
           "DStream": ("fluvial.streaming", "DStream"),
           "StreamingContext": ("fluvial.streaming", "StreamingContext")}


def public_methods(source: str, class_name: str) -> list[str]:
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    return sorted({n.name for n in cls.body
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")})


def missing_names(class_name: str) -> list[str]:
    module, attr = FLUVIAL[class_name]
    cls = getattr(importlib.import_module(module), attr)
    excluded = {k.split(".", 1)[1] for k in API["excluded"] if k.startswith(class_name + ".")}
    return [n for n in API[class_name] if n not in excluded and not hasattr(cls, n)]


@pytest.mark.parametrize("class_name", ["RDD", "SparkContext"])
def test_core_class_has_every_pyspark_method(class_name: str) -> None:
    missing = missing_names(class_name)
    print(f"{class_name}: missing {missing}")
    assert not missing, f"fluvial.{class_name} lacks {missing}"


def test_dstream_has_every_pyspark_method() -> None:
    missing = missing_names("DStream")
    print(f"DStream: missing {missing}")
    assert not missing, f"fluvial.streaming.DStream lacks {missing}"


def test_streaming_context_has_every_pyspark_method() -> None:
    missing = missing_names("StreamingContext")
    print(f"StreamingContext: missing {missing}")
    assert not missing, f"fluvial.streaming.StreamingContext lacks {missing}"


def test_exclusions_name_real_methods_with_reasons() -> None:
    for key, reason in API["excluded"].items():
        class_name, name = key.split(".", 1)
        assert name in API[class_name], f"{key} is excluded but is not a PySpark method"
        assert len(reason) > 20, f"{key} needs a reason"


@pytest.mark.skipif(not REF.is_dir(), reason=f"PySpark reference sources not at {REF}")
def test_api_list_matches_reference() -> None:
    for class_name, rel in SOURCES.items():
        assert API[class_name] == public_methods((REF / rel).read_text(), class_name), class_name
