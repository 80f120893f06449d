"""Control batches: the commit and abort markers a transaction coordinator writes.

A control batch has the transactional and control attribute bits set and holds
one record whose key and value are small big-endian structs::

    key   = version int16 (0) | type int16 (0 = abort, 1 = commit)
    value = version int16 (0) | coordinatorEpoch int32
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

import native
from client.records.batch import CONTROL_BIT, TRANSACTIONAL_BIT
from client.records.builder import assemble_batch, wall_clock_ms
from client.records.errors import RecordsError
from client.records.record import Record

__all__ = ["ControlMarker", "ControlType", "build_control_batch", "parse_control_record"]

_KEY = struct.Struct(">hh")
_VALUE = struct.Struct(">hi")
CONTROL_VERSION = 0


class ControlType(IntEnum):
    """The marker type in a control record's key."""

    ABORT = 0
    COMMIT = 1


class ControlMarker(NamedTuple):
    """A decoded control record."""

    type: ControlType
    coordinator_epoch: int


def build_control_batch(
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int = 0,
    timestamp: int | None = None,
    *,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A control batch holding one COMMIT (``commit``) or ABORT marker for a producer.

    ``timestamp`` (ms) defaults to the wall clock.  The batch has no sequence
    number (baseSequence -1), as markers are not part of the producer's sequence.
    """
    kind = ControlType.COMMIT if commit else ControlType.ABORT
    when = wall_clock_ms() if timestamp is None else timestamp
    try:
        key = _KEY.pack(CONTROL_VERSION, kind)
        value = _VALUE.pack(CONTROL_VERSION, coordinator_epoch)
    except struct.error as exc:
        raise ValueError(f"control record field out of range: {exc}") from None
    section = native.encode_records([value], [key])
    return assemble_batch(
        section,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        attributes=TRANSACTIONAL_BIT | CONTROL_BIT,
        last_offset_delta=0,
        base_timestamp=when,
        max_timestamp=when,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=-1,
        record_count=1,
    )


def parse_control_record(record: Record) -> ControlMarker:
    """The marker a control batch's record carries; RecordsError if it is not one.

    Keys with a newer version are read by their first two fields, as Kafka does.
    """
    key, value = record.key, record.value
    if key is None or len(key) < _KEY.size:
        raise RecordsError(f"control record key {key!r} is shorter than {_KEY.size} bytes")
    version, kind = _KEY.unpack_from(key)
    if version < 0 or kind not in (ControlType.ABORT, ControlType.COMMIT):
        raise RecordsError(f"unknown control record version {version} type {kind}")
    if value is None or len(value) < _VALUE.size:
        raise RecordsError(f"control record value {value!r} is shorter than {_VALUE.size} bytes")
    _version, coordinator_epoch = _VALUE.unpack_from(value)
    return ControlMarker(ControlType(kind), coordinator_epoch)
