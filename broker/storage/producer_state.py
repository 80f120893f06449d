"""Idempotent-producer state: per producer id, its epoch and its last five batches.

The broker asks ``check`` before appending a producer's batch:

* same epoch, same sequence range as one of the last five batches -> DUPLICATE,
  with the offsets the original got (the producer retried a request whose
  answer it lost);
* epoch older than the known one -> FENCED (a newer instance took over);
* same epoch, first sequence not one past the last -> OUT_OF_ORDER
  (a batch in between was lost); a new epoch must start at sequence 0;
* otherwise OK (also for a producer id never seen, whose history may have
  been removed by retention).

The state is snapshotted to ``<offset, 20 digits>.snapshot`` (the state after
every batch below that offset) when a segment rolls (not fsynced then: the
next flush round does it) and on clean close (fsynced); loading takes the
newest readable snapshot and replays batch headers after it.  Snapshot layout, big-endian::

    version i16 (1) | crc u32 (CRC-32C of everything after it) | count i32
    per producer: producer_id i64 | epoch i16 | last_timestamp i64 | n i8
        then n times: first_seq i32 | last_seq i32 | first_offset i64 | last_offset i64
                      | timestamp i64
"""

from __future__ import annotations

import enum
import os
import re
import struct
from collections import deque
from typing import NamedTuple

import native
from broker.storage.checkpoints import write_atomically
from broker.storage.errors import CorruptFileError

SNAPSHOT_SUFFIX = ".snapshot"
BATCHES_KEPT = 5
SEQUENCE_MODULUS = 2**31

_HEAD = struct.Struct(">hIi")
_PRODUCER = struct.Struct(">qhqb")
_BATCH = struct.Struct(">iiqqq")
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snapshot$")


class SequenceStatus(enum.Enum):
    """Outcome of ``ProducerStateManager.check``."""

    OK = "ok"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    FENCED = "fenced"


class ProducerCheck(NamedTuple):
    """A check's status; for DUPLICATE the offsets and timestamp the original batch got."""

    status: SequenceStatus
    first_offset: int = -1
    last_offset: int = -1
    timestamp: int = -1


class BatchMetadata(NamedTuple):
    """What is remembered of one appended batch of a producer."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


class ProducerEntry:
    """One producer's epoch and its last ``BATCHES_KEPT`` batches (oldest first)."""

    __slots__ = ("producer_id", "epoch", "batches", "last_timestamp")

    def __init__(self, producer_id: int, epoch: int) -> None:
        self.producer_id = producer_id
        self.epoch = epoch
        self.batches: deque[BatchMetadata] = deque(maxlen=BATCHES_KEPT)
        self.last_timestamp = -1

    def copy(self) -> ProducerEntry:
        """An independent copy (checks simulate several batches of one request)."""
        other = ProducerEntry(self.producer_id, self.epoch)
        other.batches.extend(self.batches)
        other.last_timestamp = self.last_timestamp
        return other

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProducerEntry) and (
            self.producer_id,
            self.epoch,
            list(self.batches),
            self.last_timestamp,
        ) == (other.producer_id, other.epoch, list(other.batches), other.last_timestamp)

    def __repr__(self) -> str:
        return f"ProducerEntry({self.producer_id}, epoch={self.epoch}, {list(self.batches)})"


def check_entry(
    entry: ProducerEntry | None, epoch: int, first_seq: int, last_seq: int
) -> ProducerCheck:
    """The sequence rules for one batch against ``entry`` (None: producer unknown)."""
    if entry is None:
        return ProducerCheck(SequenceStatus.OK)
    if epoch < entry.epoch:
        return ProducerCheck(SequenceStatus.FENCED)
    if epoch > entry.epoch or not entry.batches:
        ok = first_seq == 0 or not entry.batches
        return ProducerCheck(SequenceStatus.OK if ok else SequenceStatus.OUT_OF_ORDER)
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return ProducerCheck(
                SequenceStatus.DUPLICATE, batch.first_offset, batch.last_offset, batch.timestamp
            )
    expected = (entry.batches[-1].last_seq + 1) % SEQUENCE_MODULUS
    if first_seq != expected:
        return ProducerCheck(SequenceStatus.OUT_OF_ORDER)
    return ProducerCheck(SequenceStatus.OK)


def apply_to_entry(
    entry: ProducerEntry | None, producer_id: int, epoch: int, batch: BatchMetadata
) -> ProducerEntry:
    """The entry after appending ``batch`` (a new entry when ``entry`` is None or older)."""
    if entry is None or epoch != entry.epoch:
        entry = ProducerEntry(producer_id, epoch)
    entry.batches.append(batch)
    entry.last_timestamp = max(entry.last_timestamp, batch.timestamp)
    return entry


class ProducerStateManager:
    """Producer entries of one partition and their snapshot files in the partition directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.producers: dict[int, ProducerEntry] = {}
        self.map_end_offset = 0  # the state covers every batch below this offset

    # -- the sequence rules -----------------------------------------------------------

    def check(self, producer_id: int, epoch: int, first_seq: int, last_seq: int) -> ProducerCheck:
        """What appending a batch with these fields would mean (no state change)."""
        return check_entry(self.producers.get(producer_id), epoch, first_seq, last_seq)

    def update(self, producer_id: int, epoch: int, batch: BatchMetadata) -> None:
        """Record an appended batch of an idempotent producer."""
        self.producers[producer_id] = apply_to_entry(
            self.producers.get(producer_id), producer_id, epoch, batch
        )
        self.map_end_offset = max(self.map_end_offset, batch.last_offset + 1)

    def observe(
        self,
        producer_id: int,
        epoch: int,
        base_sequence: int,
        first_offset: int,
        last_offset: int,
        timestamp: int,
    ) -> None:
        """Record a batch from its header fields; batches without a producer id are ignored."""
        if producer_id >= 0 and base_sequence >= 0:
            last_seq = (base_sequence + last_offset - first_offset) % SEQUENCE_MODULUS
            self.update(
                producer_id,
                epoch,
                BatchMetadata(base_sequence, last_seq, first_offset, last_offset, timestamp),
            )
        self.map_end_offset = max(self.map_end_offset, last_offset + 1)

    def evict_before(self, log_start_offset: int) -> None:
        """Forget producers whose last batch is wholly below the log start offset."""
        gone = [
            pid
            for pid, entry in self.producers.items()
            if not entry.batches or entry.batches[-1].last_offset < log_start_offset
        ]
        for pid in gone:
            del self.producers[pid]

    def clear(self, offset: int) -> None:
        """Empty state covering nothing below ``offset``."""
        self.producers = {}
        self.map_end_offset = offset

    # -- snapshots --------------------------------------------------------------------

    def snapshot_path(self, offset: int) -> str:
        """Path of the snapshot taken at ``offset``."""
        return os.path.join(self.directory, f"{offset:020d}{SNAPSHOT_SUFFIX}")

    def serialize(self) -> bytes:
        """The current state in the snapshot layout."""
        parts = []
        for entry in self.producers.values():
            parts.append(
                _PRODUCER.pack(
                    entry.producer_id, entry.epoch, entry.last_timestamp, len(entry.batches)
                )
            )
            parts.extend(_BATCH.pack(*batch) for batch in entry.batches)
        body = struct.pack(">i", len(self.producers)) + b"".join(parts)
        return struct.pack(">hI", 1, native.crc32c(body)) + body

    def write_snapshot(
        self, offset: int, data: bytes | None = None, *, durable: bool = False
    ) -> None:
        """Write the state (or ``data`` from ``serialize``) as the snapshot at ``offset``."""
        write_atomically(
            self.snapshot_path(offset), self.serialize() if data is None else data, durable=durable
        )

    @staticmethod
    def parse(data: bytes) -> dict[int, ProducerEntry]:
        """Producer entries from snapshot bytes; CorruptFileError for anything malformed."""
        try:
            version, crc, count = _HEAD.unpack_from(data, 0)
            if version != 1 or native.crc32c(memoryview(data)[6:]) != crc:
                raise CorruptFileError("snapshot version or CRC mismatch")
            at = _HEAD.size
            producers = {}
            for _ in range(count):
                pid, epoch, last_ts, n = _PRODUCER.unpack_from(data, at)
                at += _PRODUCER.size
                entry = ProducerEntry(pid, epoch)
                entry.last_timestamp = last_ts
                for _ in range(n):
                    entry.batches.append(BatchMetadata(*_BATCH.unpack_from(data, at)))
                    at += _BATCH.size
                producers[pid] = entry
            if at != len(data):
                raise CorruptFileError("trailing bytes in snapshot")
        except struct.error:
            raise CorruptFileError("truncated snapshot") from None
        return producers

    def snapshot_offsets(self) -> list[int]:
        """Offsets of the snapshot files present, ascending."""
        found = []
        for name in os.listdir(self.directory):
            match = _SNAPSHOT_NAME.match(name)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def load_latest(self, max_offset: int, min_offset: int = 0) -> int:
        """Load the newest readable snapshot in [min_offset, max_offset]; returns its offset.

        With none, the state is empty at ``min_offset`` (the caller replays from there).
        """
        for offset in reversed(self.snapshot_offsets()):
            if not min_offset <= offset <= max_offset:
                continue
            try:
                with open(self.snapshot_path(offset), "rb") as f:
                    self.producers = self.parse(f.read())
            except (OSError, CorruptFileError):
                continue
            self.map_end_offset = offset
            return offset
        self.clear(min_offset)
        return min_offset

    def delete_snapshots(self, *, above: int | None = None, below: int | None = None) -> None:
        """Remove snapshots at offsets > ``above`` or < ``below``."""
        for offset in self.snapshot_offsets():
            if (above is not None and offset > above) or (below is not None and offset < below):
                try:
                    os.unlink(self.snapshot_path(offset))
                except FileNotFoundError:
                    pass

    def keep_newest(self, count: int) -> None:
        """Remove all but the ``count`` newest snapshots."""
        offsets = self.snapshot_offsets()
        if len(offsets) > count:
            self.delete_snapshots(below=offsets[-count])
