"""FlumeUtils: PySpark 2.4's entry points for Flume."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from ...core.storage import StorageLevel
from .dstream import FlumeInputDStream, utf8_decoder
from .push import FlumePushReceiver, PushOptions

if TYPE_CHECKING:
    from ..dstream import DStream
    from ..context import StreamingContext

__all__ = ["FlumeUtils"]

Decoder = Callable[[Any], Any]


class FlumeUtils:
    DEFAULT_POLLING_PARALLELISM = 5
    DEFAULT_POLLING_BATCH_SIZE = 1000

    @staticmethod
    def createStream(ssc: "StreamingContext", hostname: str, port: int,
                     storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2,  # type: ignore[attr-defined]
                     enableDecompression: bool = False, bodyDecoder: Decoder = utf8_decoder, *,
                     onDecodeError: str = "fail", maxFrameBytes: int = 64 << 20, maxBuffersPerFrame: int = 4096,
                     maxConnections: int = 64, allowedClients: Sequence[str] | None = None,
                     storeTimeout: float = 10.0) -> FlumeInputDStream:
        """Events pushed by a Flume ``avro`` sink (AvroSink) to an Avro RPC
        server this stream runs on ``hostname:port``, as
        ``(headers, bodyDecoder(body))``. Match the sink's
        ``compression-type = deflate`` with ``enableDecompression=True``.

        At-least-once: a sink's batch is answered ``OK`` only once stored (in
        the write-ahead log too, when
        ``spark.streaming.receiver.writeAheadLog.enable`` is on), ``FAILED``
        otherwise, and Flume resends what failed. Keyword-only settings
        (fluvial's own): ``onDecodeError`` (``"fail"`` or ``"skip"``), caps
        ``maxFrameBytes``/``maxBuffersPerFrame``/``maxConnections``,
        ``allowedClients`` (IP addresses or networks), ``storeTimeout``
        (seconds before a request that could not be stored is answered
        ``FAILED``). See ``docs/flume.md``."""
        options = PushOptions(maxFrameBytes, maxBuffersPerFrame, maxConnections,
                              None if allowedClients is None else tuple(allowedClients), storeTimeout)
        receiver = FlumePushReceiver(hostname, port, storageLevel, enableDecompression, options)
        return FlumeInputDStream(ssc, receiver, bodyDecoder, onDecodeError)

    @staticmethod
    def createPollingStream(ssc: "StreamingContext", addresses: Sequence[tuple[str, int]],
                            storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2,  # type: ignore[attr-defined]
                            maxBatchSize: int = 1000, parallelism: int = 5, bodyDecoder: Decoder = utf8_decoder,
                            *, onDecodeError: str = "fail", maxFrameBytes: int = 64 << 20,
                            errorBackoff: float = 0.2) -> FlumeInputDStream:
        """Events polled from Spark sinks (``SparkSink``) running in Flume
        agents at ``addresses`` (``[(host, port), ...]``), as
        ``(headers, bodyDecoder(body))``.

        At-least-once: a batch is acknowledged only after it is stored (and
        logged, with the write-ahead log on); when storing fails it is
        negatively acknowledged and the sink delivers it again. Error batches
        from a sink are logged, never stored; the fetcher then waits
        ``errorBackoff`` seconds. See ``docs/flume.md``."""
        from .poll import FlumePollingReceiver, PollOptions
        receiver = FlumePollingReceiver(addresses, storageLevel,
                                        PollOptions(maxBatchSize, parallelism, maxFrameBytes, errorBackoff))
        return FlumeInputDStream(ssc, receiver, bodyDecoder, onDecodeError)

    @staticmethod
    def createThriftStream(ssc: "StreamingContext", hostname: str, port: int, protocol: str = "compact",
                           **options: Any) -> "DStream":
        """Events sent by Flume ``thrift`` sinks (ThriftSink) to ``hostname:port``
        over framed transport, ``compact`` (Flume's default) or ``binary``
        protocol, as ``(headers, bodyDecoder(body))`` (fluvial's addition;
        options in :func:`fluvial.streaming.flume.thrift.create_thrift_stream`)."""
        from .thrift import create_thrift_stream
        return create_thrift_stream(ssc, hostname, port, protocol=protocol, **options)
