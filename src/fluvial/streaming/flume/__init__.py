"""Flume sources: the push receiver (Flume AvroSink → fluvial), the polling
receiver (fluvial ← Flume SparkSink) and the Thrift receiver (Flume ThriftSink
→ fluvial). Needs ``pip install 'fluvial[flume]'`` (fastavro, thriftpy2).
See ``docs/flume.md``."""
try:
    import fastavro  # noqa: F401
    import thriftpy2  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(f"fluvial.streaming.flume needs {exc.name}: pip install 'fluvial[flume]'") from exc

from .dstream import FlumeDecodeError, FlumeInputDStream, utf8_decoder
from .utils import FlumeUtils

__all__ = ["FlumeUtils", "FlumeInputDStream", "FlumeDecodeError", "utf8_decoder"]
