"""From a partition's fetched bytes to consumer records: offsets, cut batches, lazy decoding,
transactions."""

from __future__ import annotations

import gc

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.consumer.records import ConsumerRecord, FetchedPartition
from client.records import (
    Compression,
    RecordsError,
    TimestampType,
    build_batch,
    build_control_batch,
)
from client.records.batch import CRC_OFFSET, CRC_START


def batch(first: int, count: int, **kwargs: object) -> bytes:
    values = [f"v{first + i}".encode() for i in range(count)]
    keys = [f"k{first + i}".encode() for i in range(count)]
    return build_batch(values, keys, timestamps=[1000 + first + i for i in range(count)],
                       base_offset=first, **kwargs)


def take_all(fetched: FetchedPartition) -> list[ConsumerRecord]:
    records = fetched.take(10**9)
    assert fetched.exhausted
    return records


def test_records_carry_partition_offsets_timestamps_and_epoch() -> None:
    data = batch(10, 3, partition_leader_epoch=4, headers=[[("h", b"1")], None, [("x", None)]])
    fetched = FetchedPartition("t", 2, data, 10)
    assert (fetched.next_offset, fetched.last_epoch, fetched.size) == (13, 4, len(data))
    records = take_all(fetched)
    assert records[0] == ConsumerRecord(
        "t", 2, 10, 1010, TimestampType.CREATE_TIME, b"k10", b"v10", [("h", b"1")], 4
    )
    assert [r.offset for r in records] == [10, 11, 12]
    assert records[2].headers == [("x", None)]
    assert (fetched.position, fetched.position_epoch) == (13, 4)


def test_decoding_leaves_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    take_all(FetchedPartition("t", 0, batch(0, 3), 0))
    assert gc.isenabled()
    bad = bytearray(batch(0, 2, compression=Compression.GZIP))
    bad[-6] ^= 0xFF  # only decoding can tell: the CRC is right
    bad[CRC_OFFSET:CRC_START] = crc32c.crc32c(bytes(bad[CRC_START:])).to_bytes(4, "big")
    with pytest.raises(RecordsError):
        FetchedPartition("t", 0, bytes(bad), 0).take(10)
    assert gc.isenabled()
    gc.disable()
    try:
        take_all(FetchedPartition("t", 0, batch(0, 3), 0))
        assert not gc.isenabled()
    finally:
        gc.enable()


@given(st.integers(0, 12), st.sampled_from([Compression.NONE, Compression.LZ4, Compression.GZIP]))
def test_records_before_the_fetch_offset_are_dropped(start: int, codec: Compression) -> None:
    data = batch(0, 5, compression=codec) + batch(5, 5, compression=codec)
    fetched = FetchedPartition("t", 0, data, start)
    assert [r.offset for r in take_all(fetched)] == list(range(start, 10))
    assert fetched.next_offset == max(10, start) and fetched.position == max(10, start)


@given(st.lists(st.integers(1, 7), min_size=1, max_size=6), st.integers(1, 9))
def test_take_returns_records_in_pieces_and_decodes_only_what_it_needs(
    sizes: list[int], limit: int
) -> None:
    data = b""
    first = 0
    for size in sizes:
        data += batch(first, size)
        first += size
    fetched = FetchedPartition("t", 0, data, 0)
    seen: list[int] = []
    while not fetched.exhausted:
        piece = fetched.take(limit)
        assert 0 < len(piece) <= limit
        seen += [r.offset for r in piece]
        assert fetched.position == seen[-1] + 1
    assert seen == list(range(first))


def test_a_batch_is_decoded_only_when_its_records_are_taken() -> None:
    good = batch(0, 2)
    bad = bytearray(batch(2, 2, compression=Compression.GZIP))
    # break the compressed payload but keep the CRC right: only decoding can tell
    bad[-6] ^= 0xFF
    bad[CRC_OFFSET:CRC_START] = crc32c.crc32c(bytes(bad[CRC_START:])).to_bytes(4, "big")
    fetched = FetchedPartition("t", 0, good + bytes(bad), 0)
    assert fetched.next_offset == 4
    assert [r.offset for r in fetched.take(2)] == [0, 1]
    with pytest.raises(RecordsError):
        fetched.take(1)
    assert fetched.position == 2 and not fetched.exhausted


def test_a_batch_cut_at_the_size_limit_is_left_out() -> None:
    whole = batch(0, 2)
    fetched = FetchedPartition("t", 0, whole + batch(2, 4)[:-7], 0)
    assert [r.offset for r in take_all(fetched)] == [0, 1]
    assert fetched.next_offset == 2 and fetched.size == len(whole)
    only_cut = FetchedPartition("t", 0, batch(0, 3)[:30], 0)
    assert only_cut.size == 0 and only_cut.had_bytes and only_cut.next_offset == 0
    assert take_all(only_cut) == []


def test_corrupt_bytes_raise_at_once() -> None:
    data = bytearray(batch(0, 3))
    data[-1] ^= 0xFF
    with pytest.raises(RecordsError, match="batch 0"):
        FetchedPartition("t", 0, bytes(data), 0)


def test_empty_or_null_records() -> None:
    assert FetchedPartition("t", 0, None, 7).next_offset == 7
    empty = FetchedPartition("t", 0, b"", 7)
    assert take_all(empty) == [] and not empty.had_bytes


def test_log_append_time_is_reported() -> None:
    data = build_batch([b"a"], timestamp_type=TimestampType.LOG_APPEND_TIME, now_ms=55)
    record = take_all(FetchedPartition("t", 0, data, 0))[0]
    assert record.timestamp_type == TimestampType.LOG_APPEND_TIME and record.timestamp == 55


def test_control_batches_are_skipped_but_advance_the_position() -> None:
    data = batch(0, 2, producer_id=7, producer_epoch=0, base_sequence=0, transactional=True)
    data += build_control_batch(True, 7, 0, 0, base_offset=2)
    fetched = FetchedPartition("t", 0, data, 0)
    assert [r.offset for r in take_all(fetched)] == [0, 1]
    assert fetched.next_offset == 3 and fetched.position == 3


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
    committed = FetchedPartition("t", 0, data, 0, read_committed=True,
                                 aborted_transactions=aborted)
    assert [r.offset for r in take_all(committed)] == [2, 3, 6]
    assert committed.position == 8
    uncommitted = FetchedPartition("t", 0, data, 0, aborted_transactions=aborted)
    assert [r.offset for r in take_all(uncommitted)] == [0, 1, 2, 3, 6]


def test_deserializers_apply_to_keys_and_values() -> None:
    fetched = FetchedPartition(
        "t", 0, batch(0, 2), 0,
        key_deserializer=lambda b: b.decode().upper(),
        value_deserializer=lambda b: len(b),
    )
    assert [(r.key, r.value) for r in take_all(fetched)] == [("K0", 2), ("K1", 2)]
