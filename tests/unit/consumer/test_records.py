"""From a partition's fetched bytes to consumer records: offsets, cut batches, transactions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.consumer.records import ConsumerRecord, records_from_fetch
from client.records import (
    Compression,
    RecordsError,
    TimestampType,
    build_batch,
    build_control_batch,
)


def batch(first: int, count: int, **kwargs: object) -> bytes:
    values = [f"v{first + i}".encode() for i in range(count)]
    keys = [f"k{first + i}".encode() for i in range(count)]
    return build_batch(values, keys, timestamps=[1000 + first + i for i in range(count)],
                       base_offset=first, **kwargs)


def test_records_carry_partition_offsets_timestamps_and_epoch() -> None:
    data = batch(10, 3, partition_leader_epoch=4, headers=[[("h", b"1")], None, [("x", None)]])
    fetched = records_from_fetch("t", 2, data, 10)
    assert fetched.records[0] == ConsumerRecord(
        "t", 2, 10, 1010, TimestampType.CREATE_TIME, b"k10", b"v10", [("h", b"1")], 4
    )
    assert [r.offset for r in fetched.records] == [10, 11, 12]
    assert fetched.records[2].headers == [("x", None)]
    assert (fetched.next_offset, fetched.last_epoch, fetched.size) == (13, 4, len(data))


@given(st.integers(0, 12), st.sampled_from([Compression.NONE, Compression.LZ4, Compression.GZIP]))
def test_records_before_the_fetch_offset_are_dropped(start: int, codec: Compression) -> None:
    data = batch(0, 5, compression=codec) + batch(5, 5, compression=codec)
    fetched = records_from_fetch("t", 0, data, start)
    assert [r.offset for r in fetched.records] == list(range(start, 10))
    assert fetched.next_offset == max(10, start)


def test_a_batch_cut_at_the_size_limit_is_ignored() -> None:
    whole = batch(0, 2)
    cut = whole + batch(2, 4)[:-7]
    fetched = records_from_fetch("t", 0, cut, 0)
    assert [r.offset for r in fetched.records] == [0, 1]
    assert fetched.next_offset == 2 and fetched.size == len(whole)
    only_cut = records_from_fetch("t", 0, batch(0, 3)[:30], 0)
    assert only_cut.records == [] and only_cut.size == 0 and only_cut.next_offset == 0


def test_corrupt_bytes_raise() -> None:
    data = bytearray(batch(0, 3))
    data[-1] ^= 0xFF
    with pytest.raises(RecordsError):
        records_from_fetch("t", 0, bytes(data), 0)


def test_empty_or_null_records() -> None:
    assert records_from_fetch("t", 0, None, 7).next_offset == 7
    assert records_from_fetch("t", 0, b"", 7).records == []


def test_log_append_time_is_reported() -> None:
    data = build_batch([b"a"], timestamp_type=TimestampType.LOG_APPEND_TIME, now_ms=55)
    record = records_from_fetch("t", 0, data, 0).records[0]
    assert record.timestamp_type == TimestampType.LOG_APPEND_TIME and record.timestamp == 55


def test_control_batches_are_skipped_but_advance_the_offset() -> None:
    data = batch(0, 2, producer_id=7, producer_epoch=0, base_sequence=0, transactional=True)
    data += build_control_batch(True, 7, 0, 0, base_offset=2)
    fetched = records_from_fetch("t", 0, data, 0)
    assert [r.offset for r in fetched.records] == [0, 1]
    assert fetched.next_offset == 3


def test_read_committed_drops_aborted_transactions_only() -> None:
    txn = dict(producer_epoch=0, transactional=True)
    data = (
        batch(0, 2, producer_id=1, base_sequence=0, **txn)      # aborted below
        + batch(2, 2, producer_id=2, base_sequence=0, **txn)    # committed
        + build_control_batch(False, 1, 0, 0, base_offset=4)    # abort producer 1
        + build_control_batch(True, 2, 0, 0, base_offset=5)     # commit producer 2
        + batch(6, 1, producer_id=1, base_sequence=2, **txn)    # producer 1's next txn
        + build_control_batch(True, 1, 0, 0, base_offset=7)
    )
    aborted = [{"producer_id": 1, "first_offset": 0}]
    committed = records_from_fetch("t", 0, data, 0, read_committed=True,
                                   aborted_transactions=aborted)
    assert [r.offset for r in committed.records] == [2, 3, 6]
    assert committed.next_offset == 8
    uncommitted = records_from_fetch("t", 0, data, 0, aborted_transactions=aborted)
    assert [r.offset for r in uncommitted.records] == [0, 1, 2, 3, 6]


def test_deserializers_apply_to_keys_and_values() -> None:
    fetched = records_from_fetch(
        "t", 0, batch(0, 2), 0,
        key_deserializer=lambda b: b.decode().upper(),
        value_deserializer=lambda b: len(b),
    )
    assert [(r.key, r.value) for r in fetched.records] == [("K0", 2), ("K1", 2)]
