"""A receiver stream's blocks in its write-ahead log.

Each block is one record of a :class:`~fluvial.streaming.wal.WriteAheadLog`:
the id of the run that stored it (a stream keeps its run id across
recoveries; a new stream in the same directory has another one), its
sequence number, the number of records it stands for (``numRecords`` of
``storeAll``; usually its length), then its records, pickled (cloudpickle
for what pickle refuses). A block is durable once :meth:`BlockLog.write` returns.
"""
from __future__ import annotations

import struct
from ...core import fsio
from ...core.shuffle import read_bucket, serialize_bucket
from ..wal import WALCorruptError, WALHandle, WriteAheadLog
from .supervisor import BlockRef

__all__ = ["BlockLog"]

_HEADER = struct.Struct("<16sqq")    # run id, block sequence number, record count; the pickled records follow


class BlockLog:
    """The blocks stored by run ``run_id`` (hex) in the log at ``directory``."""

    def __init__(self, directory: str, rolling_interval_ms: int, run_id: str) -> None:
        self.wal = WriteAheadLog(directory, rolling_interval_ms)
        self.run_id = run_id
        self._run = bytes.fromhex(run_id)

    @property
    def directory(self) -> str:
        return self.wal.directory

    def write(self, seq: int, records: list, time_ms: int, count: int | None = None) -> BlockRef:
        """Write block ``seq`` (standing for ``count`` records, default
        ``len(records)``) durably; its ref says where it is."""
        count = len(records) if count is None else count
        handle = self.wal.write(_HEADER.pack(self._run, seq, count) + serialize_bucket(records), time_ms)
        return BlockRef(seq, count, handle)

    def read(self, ref: BlockRef) -> list:
        """The records of the block ``ref`` names (which must have a handle).
        Raises FileNotFoundError or WALCorruptError naming file and offset."""
        assert ref.handle is not None
        payload = self.wal.read(ref.handle)
        run, seq, _ = self._header(ref.handle, payload)
        if run != self._run or seq != ref.seq:
            raise WALCorruptError(self._where(ref.handle), ref.handle.offset,
                                  f"holds block {seq} of run {run.hex()}, expected block {ref.seq} of run "
                                  f"{self.run_id}")
        return read_bucket(payload[_HEADER.size:])

    def scan(self, after_seq: int = -1) -> tuple[list[tuple[BlockRef, list]], int]:
        """This run's blocks numbered above ``after_seq`` with their records,
        in sequence order, and the highest sequence number this run logged
        (-1 if none). Other blocks are skipped without unpickling. A torn last
        record is ignored, a damaged one raises (see ``WriteAheadLog.records``)."""
        found, top = [], -1
        for handle, payload in self.wal.records():
            run, seq, count = self._header(handle, payload)
            if run != self._run:
                continue
            top = max(top, seq)
            if seq > after_seq:
                records = read_bucket(payload[_HEADER.size:])
                found.append((BlockRef(seq, count, handle), records))
        found.sort(key=lambda block: block[0].seq)
        return found, top

    def _header(self, handle: WALHandle, payload: bytes) -> tuple[bytes, int, int]:
        if len(payload) < _HEADER.size:
            raise WALCorruptError(self._where(handle), handle.offset, "too short for a receiver block")
        return _HEADER.unpack_from(payload)

    def _where(self, handle: WALHandle) -> str:
        return fsio.join(self.wal.directory, handle.segment)

    @property
    def last_time_ms(self) -> int | None:
        return self.wal.last_time_ms

    def clean(self, threshold_ms: int) -> list[str]:
        return self.wal.clean(threshold_ms)

    def close(self) -> None:
        self.wal.close()
