"""Invalid input: damaged batches raise RecordsError; cut batches are handled as consumers do."""

from __future__ import annotations

import struct

import pytest

from client.records import Compression, RecordsError, build_batch, compress, decode_batches
from client.records.builder import assemble_batch

BATCH = build_batch(
    [b"value-1", None, b"value-3"],
    [b"k1", b"k2", None],
    [[("h", b"v")], None, [("n", None)]],
    [1000, 1001, 999],
    base_offset=40,
    producer_id=3,
    producer_epoch=0,
    base_sequence=8,
)
SECOND = build_batch([b"next"], base_offset=43, compression=Compression.GZIP, now_ms=5)
# bytes the CRC does not cover, which a broker rewrites in place
UNCOVERED = set(range(0, 8)) | set(range(12, 16))


def _batch(section: bytes, count: int, attributes: int = 0, last_offset_delta: int | None = None
           ) -> bytes:
    """A batch around a hand-made records section, with a correct CRC."""
    return assemble_batch(
        section,
        base_offset=0,
        partition_leader_epoch=0,
        attributes=attributes,
        last_offset_delta=count - 1 if last_offset_delta is None else last_offset_delta,
        base_timestamp=0,
        max_timestamp=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        record_count=count,
    )


def test_every_covered_byte_flipped_is_rejected() -> None:
    for position in range(len(BATCH)):
        damaged = bytearray(BATCH)
        damaged[position] ^= 0x5A
        if position in UNCOVERED:
            [batch] = decode_batches(bytes(damaged))
            assert batch.records[0].value == b"value-1"
        else:
            with pytest.raises(RecordsError):
                decode_batches(bytes(damaged))


def test_offset_and_leader_epoch_rewrites_keep_the_batch_valid() -> None:
    rewritten = bytearray(BATCH)
    struct.pack_into(">q", rewritten, 0, 10**12)
    struct.pack_into(">i", rewritten, 12, 77)
    [batch] = decode_batches(rewritten)
    assert batch.base_offset == 10**12 and batch.partition_leader_epoch == 77
    assert [r.offset for r in batch.records] == [10**12, 10**12 + 1, 10**12 + 2]


def test_every_cut_is_rejected_or_dropped_when_partial_is_allowed() -> None:
    whole = BATCH + SECOND
    for cut in range(1, len(whole)):
        if cut == len(BATCH):
            assert len(decode_batches(whole[:cut])) == 1
            continue
        with pytest.raises(RecordsError):
            decode_batches(whole[:cut])
        kept = decode_batches(whole[:cut], allow_partial=True)
        assert len(kept) == (1 if cut > len(BATCH) else 0)


def test_trailing_bytes_after_a_batch_are_rejected() -> None:
    with pytest.raises(RecordsError):
        decode_batches(BATCH + b"\x00" * 5)
    assert len(decode_batches(BATCH + b"\x00" * 5, allow_partial=True)) == 1


def test_empty_buffer_has_no_batches() -> None:
    assert decode_batches(b"") == []


def test_reads_from_memoryview_and_bytearray() -> None:
    for buf in (memoryview(BATCH + SECOND), bytearray(BATCH + SECOND)):
        assert [b.base_offset for b in decode_batches(buf)] == [40, 43]


def _record(body: bytes) -> bytes:
    """A record with a one-byte length prefix (zigzag) in front of ``body``."""
    assert len(body) < 64
    return bytes([len(body) << 1]) + body


GOOD_RECORD = _record(b"\x00\x00\x00\x02k\x02v\x00")  # key b"k", value b"v", no headers


def test_hand_made_record_is_valid() -> None:
    [batch] = decode_batches(_batch(GOOD_RECORD, 1))
    assert (batch.records[0].key, batch.records[0].value) == (b"k", b"v")


@pytest.mark.parametrize(
    ("section", "count"),
    [
        pytest.param(GOOD_RECORD + b"\x00", 1, id="trailing-byte"),
        pytest.param(GOOD_RECORD[:-1], 1, id="truncated"),
        pytest.param(GOOD_RECORD, 2, id="fewer-records-than-count"),
        pytest.param(GOOD_RECORD * 2, 1, id="more-records-than-count"),
        pytest.param(_record(b"\x00\x00\x00\x03k\x02v\x00"), 1, id="key-length-minus-2"),
        pytest.param(_record(b"\x00\x00\x00\x02k\x05v\x00"), 1, id="value-length-minus-3"),
        pytest.param(_record(b"\x00\x00\x00\x02k\x02v\x00\x00"), 1, id="record-longer-than-fields"),
        pytest.param(b"\x0a" + b"\x00\x00\x00\x02k\x02v\x00", 1, id="record-shorter-than-fields"),
        pytest.param(b"\xff" * 12, 1, id="varint-too-long"),
        pytest.param(_record(b"\x00\x00\x00\x01\x01\x02\x02\x02\xff\x00"), 1, id="header-not-utf8"),
        pytest.param(_record(b"\x00\x00\x00\x01\x01\x02\x02\x0a"), 1, id="header-count-past-end"),
        pytest.param(b"", 1, id="empty-section"),
    ],
)
def test_malformed_records_raise_records_error(section: bytes, count: int) -> None:
    with pytest.raises(RecordsError):
        decode_batches(_batch(section, count))


def test_compressed_section_that_does_not_decompress() -> None:
    with pytest.raises(RecordsError, match="batch 0"):
        decode_batches(_batch(b"not lz4 at all", 1, attributes=Compression.LZ4))


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unknown_codec_bits(codec: int) -> None:
    with pytest.raises(RecordsError):
        decode_batches(_batch(compress(Compression.NONE, GOOD_RECORD), 1, attributes=codec))


def test_compacted_batch_with_fewer_records_than_offsets() -> None:
    # compaction keeps lastOffsetDelta while dropping records
    [batch] = decode_batches(_batch(GOOD_RECORD, 1, last_offset_delta=9))
    assert batch.record_count == 1 and batch.last_offset == 9 and batch.next_offset == 10


def test_bad_magic_and_length() -> None:
    bad_magic = bytearray(BATCH)
    bad_magic[16] = 1
    short = bytearray(BATCH)
    struct.pack_into(">i", short, 8, 10)
    for damaged in (bad_magic, short):
        with pytest.raises(RecordsError):
            decode_batches(bytes(damaged))


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        build_batch([])
    with pytest.raises(ValueError):
        build_batch([b"a", b"b"], keys=[b"k"])
    with pytest.raises(ValueError):
        build_batch([b"a"], timestamps=[1, 2])
    with pytest.raises(ValueError):
        build_batch([b"a"], producer_epoch=2**15)
    with pytest.raises(TypeError):
        build_batch(["text is not bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        build_batch([b"a"], headers=[[(b"key must be str", b"")]])  # type: ignore[list-item]
