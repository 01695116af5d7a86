"""The Java peers (``java_peers/FlumePeer.java`` on Apache Avro's Java IPC,
avro-ipc 1.8.2 + Netty 3.9.9 from the pyspark 2.4.8 sdist): fetched once into
``.java-cache/jars`` (``java_peers/fetch_jars.sh``) and compiled once per
source change into ``.java-cache/classes``. Tests using them are skipped,
with that reason, only when no JDK (``javac``/``java``) is installed."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CACHE = HERE / ".java-cache"
JARS = CACHE / "jars"
SOURCE = HERE / "java_peers" / "FlumePeer.java"
JAR_NAMES = ["avro-1.8.2.jar", "avro-ipc-1.8.2.jar", "netty-3.9.9.Final.jar", "jackson-core-asl-1.9.13.jar",
             "jackson-mapper-asl-1.9.13.jar", "slf4j-api-1.7.16.jar"]
FETCHED_JARS = JAR_NAMES + ["libthrift-0.9.3.jar"]  # also the Thrift peer's (test_thrift_receiver.py)

needs_jdk = pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None,
                               reason="needs a JDK (javac and java) for the Java Avro IPC peers")


def classpath() -> str:
    """Fetch the jars and compile the harness if needed; the java classpath."""
    if not all((JARS / n).is_file() for n in FETCHED_JARS):
        proc = subprocess.run(["sh", str(HERE / "java_peers" / "fetch_jars.sh")], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"fetching the Avro IPC jars failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    jars = [str(JARS / n) for n in JAR_NAMES]
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    classes = CACHE / f"classes-{digest}"
    if not (classes / "FlumePeer.class").is_file():
        tmp = CACHE / f"classes-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(["javac", "-nowarn", "-d", str(tmp), "-cp", ":".join(jars), str(SOURCE)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"javac FlumePeer.java failed:\n{proc.stderr[-3000:]}")
        tmp.rename(classes)
    return ":".join(jars + [str(classes)])


def java(cp: str, *args: str) -> list[str]:
    return ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", cp, "FlumePeer", *args]
