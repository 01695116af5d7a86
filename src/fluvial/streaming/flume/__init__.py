"""Flume sources: the push receiver (Flume AvroSink → fluvial), the polling
receiver (fluvial ← Flume SparkSink) and the Thrift receiver (Flume ThriftSink
→ fluvial). See ``docs/flume.md``."""
from .dstream import FlumeDecodeError, FlumeInputDStream, utf8_decoder
from .utils import FlumeUtils

__all__ = ["FlumeUtils", "FlumeInputDStream", "FlumeDecodeError", "utf8_decoder"]
