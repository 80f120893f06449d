"""kafka-python as an oracle: batches built with its builder, batches read with its reader."""

from __future__ import annotations

from typing import Any

from kafka.record.default_records import ControlRecord, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from client.records import Record

Row = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def kp_build(
    rows: list[Row],
    codec: int = 0,
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
) -> bytes:
    """One batch built by kafka-python from (timestamp, key, value, headers) rows."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=2**31 - 1,
    )
    for offset, (timestamp, key, value, headers) in enumerate(rows):
        assert builder.append(offset, timestamp, key, value, headers) is not None
    return bytes(builder.build())


def kp_read(buf: bytes) -> list[dict]:
    """Every batch in ``buf`` as kafka-python sees it, CRC checked, records listed."""
    batches = []
    records = MemoryRecords(buf)
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        batches.append(
            {
                "base_offset": batch.base_offset,
                "compression": batch.compression_type,
                "is_control": batch.is_control_batch,
                "is_transactional": batch.is_transactional,
                "producer_id": batch.producer_id,
                "producer_epoch": batch.producer_epoch,
                "base_sequence": batch.base_sequence,
                "leader_epoch": batch.leader_epoch,
                "max_timestamp": batch.max_timestamp,
                "timestamp_type": batch.timestamp_type,
                "records": [
                    (r.type, r.abort) if isinstance(r, ControlRecord) else _record(r)
                    for r in batch
                ],
            }
        )
    return batches


def _record(r: Any) -> Record:
    return Record(r.offset, r.timestamp, r.key, r.value, list(r.headers))
