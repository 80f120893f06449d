"""Property tests: whatever build_batch writes, decode_batches reads back unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from client.records import Compression, Record, TimestampType, build_batch, decode_batches

optional_bytes = st.none() | st.binary(max_size=300)
headers = st.lists(st.tuples(st.text(max_size=20), optional_bytes), max_size=4)
rows = st.lists(
    st.tuples(
        st.integers(-(2**40), 2**45),  # timestamps, deltas of either sign
        optional_bytes,
        optional_bytes,
        st.none() | headers,
    ),
    min_size=1,
    max_size=40,
)
int32 = st.integers(-(2**31), 2**31 - 1)


@given(
    rows=rows,
    codec=st.sampled_from(Compression),
    base_offset=st.integers(0, 2**62),
    producer_id=st.integers(-1, 2**63 - 1),
    producer_epoch=st.integers(-1, 2**15 - 1),
    base_sequence=st.integers(-1, 2**31 - 100),
    transactional=st.booleans(),
    leader_epoch=int32,
)
def test_build_then_decode_returns_every_field(
    rows: list,
    codec: Compression,
    base_offset: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    transactional: bool,
    leader_epoch: int,
) -> None:
    timestamps, keys, values, header_lists = (list(column) for column in zip(*rows))
    buf = build_batch(
        values,
        keys,
        header_lists,
        timestamps,
        base_offset=base_offset,
        compression=codec,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
        partition_leader_epoch=leader_epoch,
    )
    [batch] = decode_batches(buf)
    assert batch.size == len(buf)
    assert batch.compression is codec
    assert batch.timestamp_type is TimestampType.CREATE_TIME
    assert batch.is_transactional is transactional and not batch.is_control
    assert (batch.base_offset, batch.partition_leader_epoch) == (base_offset, leader_epoch)
    assert (batch.producer_id, batch.producer_epoch) == (producer_id, producer_epoch)
    assert batch.base_sequence == base_sequence
    assert batch.record_count == len(rows) and batch.last_offset == base_offset + len(rows) - 1
    assert batch.base_timestamp == timestamps[0] and batch.max_timestamp == max(timestamps)
    assert batch.records == [
        Record(base_offset + i, ts, key, value, list(hs or []))
        for i, (ts, key, value, hs) in enumerate(rows)
    ]


@given(st.lists(st.tuples(st.lists(optional_bytes, min_size=1, max_size=5),
                          st.sampled_from(Compression)), min_size=1, max_size=5))
def test_concatenated_batches_decode_in_order(batches: list) -> None:
    parts = []
    offset = 0
    for values, codec in batches:
        parts.append(build_batch(values, base_offset=offset, compression=codec, now_ms=77))
        offset += len(values)
    decoded = decode_batches(b"".join(parts))
    assert [r.value for b in decoded for r in b.records] == [v for vs, _ in batches for v in vs]
    assert [r.offset for b in decoded for r in b.records] == list(range(offset))
    assert all(r.timestamp == 77 for b in decoded for r in b.records)


@given(st.binary(min_size=0, max_size=5000), st.sampled_from(Compression))
def test_compress_round_trip(data: bytes, codec: Compression) -> None:
    from client.records import compress, decompress

    assert decompress(codec, compress(codec, data)) == data
