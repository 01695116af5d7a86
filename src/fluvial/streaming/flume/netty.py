"""Avro's Netty framing (``NettyTransportCodec``), and the zlib stream Flume
puts under it when ``compression-type = deflate``.

A *pack* is ``serial:int32-BE count:int32-BE`` followed by ``count`` buffers,
each ``length:int32-BE bytes{length}``. Buffer boundaries carry no meaning:
the payload of a pack is the concatenation of its buffers (zero-length
buffers occur). The responder echoes the request's serial.

:class:`PackReader` is an incremental decoder: ``feed`` any slicing of the
byte stream, get back every pack it completed. Counts and lengths are capped
(:class:`FrameLimits`); a pack over a cap raises :class:`FramingError` before
its bytes are buffered, so a hostile or broken peer cannot make the reader
allocate more than the caps allow.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["FrameLimits", "FramingError", "PackReader", "encode_pack", "Inflater", "Deflater"]

_HEADER = struct.Struct(">ii")
_LENGTH = struct.Struct(">i")


class FramingError(ValueError):
    """The byte stream is not valid Netty framing (or breaks a cap); ``offset``
    is the stream offset (after decompression) where the bad field starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset} of the stream)")
        self.offset = offset


@dataclass(frozen=True)
class FrameLimits:
    """Caps on what one pack may hold. ``max_buffers``: buffers per pack
    (Avro's Java clients send 1-3); ``max_frame_bytes``: total payload bytes
    of one pack (one buffer is at most that, too)."""

    max_buffers: int = 4096
    max_frame_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.max_buffers < 1:
            raise ValueError(f"maxBuffersPerFrame must be at least 1, got {self.max_buffers}")
        if self.max_frame_bytes < 16:
            raise ValueError(f"maxFrameBytes must be at least 16, got {self.max_frame_bytes}")


def encode_pack(serial: int, buffers: list[bytes]) -> bytes:
    """One pack: the serial, the buffer count, each buffer with its length."""
    parts = [_HEADER.pack(serial, len(buffers))]
    for b in buffers:
        parts.append(_LENGTH.pack(len(b)))
        parts.append(b)
    return b"".join(parts)


class PackReader:
    """Incremental pack decoder for one connection (see module docstring)."""

    def __init__(self, limits: FrameLimits = FrameLimits()) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._pos = 0           # read position in _buf
        self._base = 0          # stream offset of _buf[0]

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a whole pack (0 at a pack boundary)."""
        return len(self._buf) - self._pos

    @property
    def offset(self) -> int:
        """Stream offset of the next unread byte."""
        return self._base + self._pos

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Packs completed by ``data``: ``(serial, payload)`` each, in order."""
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        limits = self.limits
        while True:
            start = self._pos
            if len(buf) - start < 8:
                break
            serial, count = _HEADER.unpack_from(buf, start)
            if count < 0 or count > limits.max_buffers:
                raise FramingError(f"a frame announces {count} buffers (allowed: 0..{limits.max_buffers}; "
                                   "this is not Avro Netty framing, or the peer is broken)", self._base + start + 4)
            pos = start + 8
            spans = []
            total = 0
            complete = True
            for _ in range(count):
                if len(buf) - pos < 4:
                    complete = False
                    break
                (length,) = _LENGTH.unpack_from(buf, pos)
                total += max(length, 0)
                if length < 0 or total > limits.max_frame_bytes:
                    raise FramingError(f"a frame buffer is {length} bytes long, which makes the frame exceed "
                                       f"maxFrameBytes={limits.max_frame_bytes}" if length >= 0 else
                                       f"a frame buffer has negative length {length}", self._base + pos)
                pos += 4
                if len(buf) - pos < length:
                    complete = False
                    break
                spans.append((pos, pos + length))
                pos += length
            if not complete:
                break
            payload = bytes(buf[spans[0][0]:spans[0][1]]) if len(spans) == 1 else \
                b"".join(buf[a:b] for a, b in spans)
            out.append((serial, payload))
            self._pos = pos
        if self._pos:
            if self._pos == len(buf):
                self._base += self._pos
                buf.clear()
                self._pos = 0
            elif self._pos > 65536:
                del buf[:self._pos]
                self._base += self._pos
                self._pos = 0
        return out


class Inflater:
    """The receiving half of a deflate-compressed connection: one zlib stream
    for the whole connection. Output per ``feed`` is capped so a small
    compressed input cannot expand without bound in one step."""

    def __init__(self, max_output: int) -> None:
        self._d = zlib.decompressobj()
        self._max = max_output

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data, self._max)
        except zlib.error as exc:
            raise FramingError(f"the compressed stream is corrupt ({exc}); is the peer's compression "
                               "setting the same as this side's?", 0) from exc
        if self._d.unconsumed_tail:
            raise FramingError(f"{len(data)} compressed bytes expand to more than {self._max} bytes", 0)
        return out


class Deflater:
    """The sending half: one zlib stream, flushed (``Z_SYNC_FLUSH``) per message."""

    def __init__(self, level: int = 6) -> None:
        self._c = zlib.compressobj(level)

    def wrap(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
