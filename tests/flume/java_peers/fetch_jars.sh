#!/bin/sh
# Fetch the jars the Java test peers need (Apache Avro 1.8.2 IPC on Netty 3, and
# libthrift 0.9.3, Flume 1.9's Thrift) from the pyspark 2.4.8 sdist on PyPI into tests/flume/.java-cache/jars.
# pip needs setuptools and wheel to prepare that sdist, so a throw-away venv
# does the download; the 220 MB sdist is deleted once the jars are out.
set -eu
cache="$(cd "$(dirname "$0")/.." && pwd)/.java-cache"
mkdir -p "$cache/jars"
python3 -m venv "$cache/dlenv"
"$cache/dlenv/bin/pip" install -q setuptools wheel
"$cache/dlenv/bin/pip" download -q --no-deps --no-build-isolation pyspark==2.4.8 -d "$cache/dl"
tar -xzf "$cache/dl/pyspark-2.4.8.tar.gz" -C "$cache/jars" --strip-components=3 \
  pyspark-2.4.8/deps/jars/avro-1.8.2.jar pyspark-2.4.8/deps/jars/avro-ipc-1.8.2.jar \
  pyspark-2.4.8/deps/jars/netty-3.9.9.Final.jar pyspark-2.4.8/deps/jars/jackson-core-asl-1.9.13.jar \
  pyspark-2.4.8/deps/jars/jackson-mapper-asl-1.9.13.jar pyspark-2.4.8/deps/jars/slf4j-api-1.7.16.jar \
  pyspark-2.4.8/deps/jars/libthrift-0.9.3.jar
rm -rf "$cache/dl" "$cache/dlenv"
