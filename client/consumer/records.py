"""Consumer records and the conversion of a partition's fetched bytes into them.

This is the consumer's hot path: every record a fetch brings goes through
:func:`records_from_fetch` once. ``client.records`` parses the batches; here each record tuple
becomes a :class:`ConsumerRecord` in one comprehension per batch, with no other per-record
work unless the caller asked for deserializers. Control batches (transaction markers) never
reach the application; under ``read_committed`` neither do batches of aborted transactions.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from client.records import RecordBatch, TimestampType, decode_batches

__all__ = ["ConsumerRecord", "FetchedRecords", "records_from_fetch"]

_tuple_new = tuple.__new__
_CONTROL_KEY = struct.Struct(">hh")
_ABORT_MARKER = 0
_TIMESTAMP_TYPE_BIT = 0x08
_CREATE_TIME = TimestampType.CREATE_TIME
_LOG_APPEND_TIME = TimestampType.LOG_APPEND_TIME


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


class FetchedRecords(NamedTuple):
    """What one partition's fetched bytes held, from the requested offset on.

    ``next_offset`` follows the last complete batch (or is the requested offset when there was
    none); ``last_epoch`` is that batch's leader epoch (-1 without batches); ``size`` counts
    the bytes of the complete batches.
    """

    records: list[ConsumerRecord]
    next_offset: int
    last_epoch: int
    size: int


Deserializer = Callable[[bytes | None], Any]


def _aborted_producers_tracker(
    aborted: list[dict] | None,
) -> tuple[list[tuple[int, int]], set[int]]:
    pending = sorted((a["first_offset"], a["producer_id"]) for a in aborted or ())
    return pending, set()


def _is_abort_marker(batch: RecordBatch) -> bool:
    if not batch.records:
        return False
    key = batch.records[0].key
    if key is None or len(key) < _CONTROL_KEY.size:
        return False
    return _CONTROL_KEY.unpack_from(key)[1] == _ABORT_MARKER


def records_from_fetch(
    topic: str,
    partition: int,
    data: bytes | memoryview | None,
    fetch_offset: int,
    *,
    read_committed: bool = False,
    aborted_transactions: list[dict] | None = None,
    key_deserializer: Deserializer | None = None,
    value_deserializer: Deserializer | None = None,
) -> FetchedRecords:
    """Decode one partition's ``records`` field of a Fetch response.

    Records before ``fetch_offset`` (a compressed batch is returned whole) are dropped, a
    batch cut short at the end (the response's size limit) is ignored, and any invalid batch
    raises ``client.records.RecordsError``. ``aborted_transactions`` is the partition's list
    from the response (``producer_id``, ``first_offset``); it matters only with
    ``read_committed``.
    """
    if not data:
        return FetchedRecords([], fetch_offset, -1, 0)
    batches = decode_batches(data, allow_partial=True)
    if not batches:
        return FetchedRecords([], fetch_offset, -1, 0)
    pending, aborting = _aborted_producers_tracker(aborted_transactions if read_committed else None)
    out: list[ConsumerRecord] = []
    extend = out.extend
    size = 0
    for batch in batches:
        size += batch.size
        if batch.next_offset <= fetch_offset:
            continue
        if read_committed:
            last = batch.last_offset
            while pending and pending[0][0] <= last:
                aborting.add(pending.pop(0)[1])
            if batch.is_control:
                if batch.producer_id in aborting and _is_abort_marker(batch):
                    aborting.discard(batch.producer_id)
                continue
            if batch.is_transactional and batch.producer_id in aborting:
                continue
        elif batch.is_control:
            continue
        records = batch.records
        if batch.base_offset < fetch_offset:
            records = [r for r in records if r[0] >= fetch_offset]
        ts_type = _LOG_APPEND_TIME if batch.attributes & _TIMESTAMP_TYPE_BIT else _CREATE_TIME
        epoch = batch.partition_leader_epoch
        if key_deserializer is None and value_deserializer is None:
            extend([
                _tuple_new(ConsumerRecord, (topic, partition, o, t, ts_type, k, v, h, epoch))
                for o, t, k, v, h in records
            ])
        else:
            kd = key_deserializer or _identity
            vd = value_deserializer or _identity
            extend([
                _tuple_new(
                    ConsumerRecord, (topic, partition, o, t, ts_type, kd(k), vd(v), h, epoch)
                )
                for o, t, k, v, h in records
            ])
    last_batch = batches[-1]
    next_offset = max(fetch_offset, last_batch.next_offset)
    return FetchedRecords(out, next_offset, last_batch.partition_leader_epoch, size)


def _identity(value: Any) -> Any:
    return value
