"""Consumer records, and a partition's fetched bytes turned into them one batch at a time.

This is the consumer's hot path. When a Fetch response arrives, :class:`FetchedPartition`
only scans the batch headers (in C: lengths, magic, CRC), which tells the fetcher where the
next fetch starts. Records are decoded when ``poll`` asks for them, one batch at a time, so
the memory the prefetch buffer holds is bounded by the bytes fetched, however well they were
compressed. Each batch decodes into columns (offsets, timestamps, keys, values, headers),
zipped into :class:`ConsumerRecord` s in one C-level pass: no Python code runs per record
unless the application set deserializers. Control batches (transaction markers) never
reach the application; under ``read_committed`` neither do batches of aborted transactions.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import ge
from typing import Any, NamedTuple

import native
from client.records import RecordsError, TimestampType
from client.records.batch import CONTROL_BIT, TRANSACTIONAL_BIT, decode_batch_columns

__all__ = ["ConsumerRecord", "FetchedPartition"]

_tuple_new = tuple.__new__
_CONTROL_KEY = struct.Struct(">hh")
_ABORT_MARKER = 0
_TIMESTAMP_TYPE_BIT = 0x08
_CREATE_TIME = TimestampType.CREATE_TIME
_LOG_APPEND_TIME = TimestampType.LOG_APPEND_TIME

Deserializer = Callable[[bytes | None], Any]


class ConsumerRecord(NamedTuple):
    """One record as the consumer returns it.

    ``timestamp_type`` is 0 (CreateTime, set by the producer) or 1 (LogAppendTime, set by the
    broker); ``leader_epoch`` is the epoch of the leader that appended the record (-1 when
    the broker did not say).
    """

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: Any
    value: Any
    headers: list[tuple[str, bytes | None]]
    leader_epoch: int


def _is_abort_marker(keys: Sequence[bytes | None]) -> bool:
    if not keys:
        return False
    key = keys[0]
    if key is None or len(key) < _CONTROL_KEY.size:
        return False
    return _CONTROL_KEY.unpack_from(key)[1] == _ABORT_MARKER


class FetchedPartition:
    """One partition's ``records`` from one Fetch response, from ``fetch_offset`` on.

    On construction the batches are located and checked; a batch cut short at the end (the
    response's size limit) is left out, and invalid bytes raise ``RecordsError``.
    ``next_offset`` follows the last complete batch (the next fetch starts there),
    ``last_epoch`` is that batch's leader epoch, ``size`` the bytes of complete batches.
    :meth:`take` decodes lazily and moves ``position`` (the next offset it will return, past
    skipped markers too) and ``position_epoch``.
    """

    __slots__ = (
        "topic", "partition", "size", "next_offset", "last_epoch", "position", "position_epoch",
        "_view", "_batches", "_batch", "_records", "_index", "_batch_end", "_batch_epoch",
        "_read_committed", "_pending_aborts", "_aborting", "_key_deserializer",
        "_value_deserializer",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        data: bytes | memoryview | None,
        fetch_offset: int,
        *,
        read_committed: bool = False,
        aborted_transactions: list[dict] | None = None,
        key_deserializer: Deserializer | None = None,
        value_deserializer: Deserializer | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.position = fetch_offset
        self.position_epoch = -1
        self._view = memoryview(data).cast("B") if data else memoryview(b"")
        self._batches: list = []
        if data:
            scan = native.scan_batches(self._view, strict=False)
            error = scan.error
            if error is not None and error.reason != "truncated":
                raise RecordsError(
                    f"batch {error.batch_index}: {error.reason.replace('_', ' ')} "
                    f"at byte {error.position}"
                )
            self._batches = [b for b in scan.batches if b.last_offset >= fetch_offset]
        self.size = sum(b.size for b in self._batches)
        last = self._batches[-1] if self._batches else None
        self.next_offset = max(fetch_offset, last.last_offset + 1) if last else fetch_offset
        self.last_epoch = last.partition_leader_epoch if last else -1
        self._batch = 0
        self._records: list[ConsumerRecord] = []
        self._index = 0
        self._batch_end = fetch_offset
        self._batch_epoch = -1
        self._read_committed = read_committed
        self._pending_aborts = sorted(
            (a["first_offset"], a["producer_id"]) for a in aborted_transactions or ()
        ) if read_committed else []
        self._aborting: set[int] = set()
        self._key_deserializer = key_deserializer
        self._value_deserializer = value_deserializer

    @property
    def had_bytes(self) -> bool:
        """Whether the broker sent any bytes for the partition (complete batches or not)."""
        return len(self._view) > 0

    @property
    def exhausted(self) -> bool:
        """Whether every record has been taken."""
        return self._index >= len(self._records) and self._batch >= len(self._batches)

    def take(self, limit: int) -> list[ConsumerRecord]:
        """Up to ``limit`` records in offset order; raises RecordsError when the next batch
        does not decode and nothing before it was taken (``position`` stays at that batch)."""
        out: list[ConsumerRecord] = []
        while len(out) < limit:
            if self._index < len(self._records):
                chunk = self._records[self._index : self._index + limit - len(out)]
                self._index += len(chunk)
                out += chunk
                last = chunk[-1]
                self.position = last.offset + 1
                self.position_epoch = last.leader_epoch
                if self._index >= len(self._records):
                    self._finish_batch()
                continue
            if self._batch >= len(self._batches):
                break
            try:
                self._records = self._decode_next()
            except RecordsError:
                if out:  # hand over what decoded; the next take raises
                    break
                raise
            self._index = 0
            if not self._records:
                self._finish_batch()
        return out

    def _finish_batch(self) -> None:
        if self._batch_end > self.position:
            self.position = self._batch_end
            self.position_epoch = self._batch_epoch

    def _decode_next(self) -> list[ConsumerRecord]:
        # Every object made here stays alive at least until poll returns, and none is part
        # of a cycle, so a collection during a batch can free nothing: it would only walk
        # the records made so far (and, promoted, walk them again in the older
        # generations). Pausing the collector for one batch halves the cost of a record.
        # A program that disabled the collector itself keeps it disabled.
        if not gc.isenabled():
            return self._decode_batch()
        gc.disable()
        try:
            return self._decode_batch()
        finally:
            gc.enable()

    def _decode_batch(self) -> list[ConsumerRecord]:
        info = self._batches[self._batch]
        try:
            # scanned (CRC included) on arrival: only the records are left to decode
            columns = decode_batch_columns(self._view, info)
        except RecordsError as exc:
            raise RecordsError(f"batch {self._batch} at byte {info.position}: {exc}") from None
        self._batch += 1
        self._batch_end = info.last_offset + 1
        self._batch_epoch = info.partition_leader_epoch
        attributes = info.attributes
        if self._read_committed:
            pending = self._pending_aborts
            while pending and pending[0][0] <= info.last_offset:
                self._aborting.add(pending.pop(0)[1])
            if attributes & CONTROL_BIT:
                if info.producer_id in self._aborting and _is_abort_marker(columns.keys):
                    self._aborting.discard(info.producer_id)
                return []
            if attributes & TRANSACTIONAL_BIT and info.producer_id in self._aborting:
                return []
        elif attributes & CONTROL_BIT:
            return []
        offsets, timestamps, keys, values, headers = columns
        start = self.position
        if info.base_offset < start:
            keep = list(map(ge, offsets, repeat(start)))
            offsets, timestamps, keys, values, headers = (
                list(compress(column, keep)) for column in columns
            )
        kd = self._key_deserializer
        vd = self._value_deserializer
        if kd is not None:
            keys = list(map(kd, keys))
        if vd is not None:
            values = list(map(vd, values))
        ts_type = _LOG_APPEND_TIME if attributes & _TIMESTAMP_TYPE_BIT else _CREATE_TIME
        # one C-level pass: no Python code runs per record
        return list(
            map(
                _tuple_new,
                repeat(ConsumerRecord),
                zip(
                    repeat(self.topic), repeat(self.partition), offsets, timestamps,
                    repeat(ts_type), keys, values, headers, repeat(info.partition_leader_epoch),
                ),
            )
        )
