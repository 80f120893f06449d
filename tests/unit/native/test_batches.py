"""Batch scanner and offset assignment: C against the twins, real batches, every corruption."""

from __future__ import annotations

import struct

import crc32c as reference
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder

import native
from native import NativeError, ScanError, twins

_BODY = struct.Struct(">hiqqqhii")  # attributes .. recordCount: what the CRC covers, then records
_PREFIX = struct.Struct(">qiibI")  # baseOffset, batchLength, partitionLeaderEpoch, magic, crc


def make_batch(
    records: bytes = b"",
    record_count: int = 1,
    last_offset_delta: int | None = None,
    *,
    base_offset: int = 0,
    epoch: int = 0,
    magic: int = 2,
    attributes: int = 0,
    base_timestamp: int = 0,
    max_timestamp: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A batch v2 around opaque ``records`` bytes, its CRC from the crc32c package."""
    if last_offset_delta is None:
        last_offset_delta = record_count - 1
    body = (
        _BODY.pack(
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
        )
        + records
    )
    crc = reference.crc32c(body)
    return _PREFIX.pack(base_offset, 9 + len(body), epoch, magic, crc) + body


def kafka_python_batch(n_records: int, value_size: int = 100, **kwargs: int) -> bytes:
    """A batch from kafka-python's builder: an independent source of real batches."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=kwargs.get("producer_id", -1),
        producer_epoch=kwargs.get("producer_epoch", -1),
        base_sequence=kwargs.get("base_sequence", -1),
        batch_size=1 << 24,
    )
    for i in range(n_records):
        builder.append(
            i,
            timestamp=1_700_000_000_000 + i,
            key=b"k%d" % i,
            value=bytes([i % 256]) * value_size,
            headers=[("h", b"v")],
        )
    return bytes(builder.build())


def both_scan(buf: bytes | bytearray | memoryview, **kwargs: object) -> native.ScanResult:
    ours = native.scan_batches(buf, **kwargs)
    assert ours == twins.scan_batches(buf, **kwargs)
    return ours


i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def batches(draw: st.DrawFn, lax_counts: bool = False, min_delta: int = -1) -> bytes:
    count = draw(st.integers(0 if lax_counts else 1, 50))
    delta = draw(st.integers(max(count - 1, min_delta), count + 5)) if lax_counts else count - 1
    return make_batch(
        draw(st.binary(max_size=300)),
        count,
        delta,
        base_offset=draw(i64),
        epoch=draw(i32),
        attributes=draw(i16),
        base_timestamp=draw(i64),
        max_timestamp=draw(i64),
        producer_id=draw(i64),
        producer_epoch=draw(i16),
        base_sequence=draw(i32),
    )


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    buf = bytearray(b"".join(draw(st.lists(batches(lax_counts=draw(st.booleans())), max_size=6))))
    kind = draw(st.sampled_from(["none", "flip", "cut", "garbage", "field"]))
    if buf and kind == "flip":
        buf[draw(st.integers(0, len(buf) - 1))] ^= draw(st.integers(1, 255))
    elif kind == "cut":
        del buf[draw(st.integers(0, len(buf))) :]
    elif kind == "garbage":
        buf += draw(st.binary(min_size=1, max_size=80))
    elif buf and kind == "field":  # a header field set to a boundary value
        at = draw(st.sampled_from([8, 16, 23, 57]))
        if at < len(buf) - 4:
            buf[at : at + 4] = struct.pack(
                ">i", draw(st.sampled_from([-1, 0, 1, 48, 49, 2**31 - 1]))
            )
    return bytes(buf)


@given(buf=damaged(), strict=st.booleans(), max_batches=st.none() | st.integers(0, 7))
def test_scan_agrees_with_twin(buf: bytes, strict: bool, max_batches: int | None) -> None:
    result = both_scan(buf, strict=strict, max_batches=max_batches)
    event(result.error.reason if result.error else "valid")
    assert result.valid_bytes == sum(b.size for b in result.batches)
    if result.error is None:
        assert result.valid_bytes == len(buf) or len(result.batches) == max_batches
    else:
        assert result.error.batch_index == len(result.batches)


@given(parts=st.lists(batches(), min_size=1, max_size=5))
def test_scan_reports_every_header_field(parts: list[bytes]) -> None:
    buf = b"".join(parts)
    result = both_scan(buf)
    assert result.error is None and result.valid_bytes == len(buf)
    position = 0
    for part, info in zip(parts, result.batches, strict=True):
        fields = _PREFIX.unpack_from(part) + _BODY.unpack_from(part, _PREFIX.size)
        (
            base_offset,
            length,
            epoch,
            magic,
            crc,
            attributes,
            delta,
            base_ts,
            max_ts,
            pid,
            pepoch,
            seq,
            count,
        ) = fields
        assert info == (
            position,
            12 + length,
            base_offset,
            delta,
            epoch,
            magic,
            crc,
            attributes,
            base_ts,
            max_ts,
            pid,
            pepoch,
            seq,
            count,
        )
        assert info.last_offset == base_offset + delta
        position += len(part)


def test_real_batches_from_kafka_python() -> None:
    parts = [
        kafka_python_batch(n, producer_id=7, producer_epoch=1, base_sequence=3) for n in (1, 3, 100)
    ]
    buf = b"".join(parts)
    for view in (buf, bytearray(buf), memoryview(b"xx" + buf)[2:]):
        result = both_scan(view)
        assert result.error is None
        assert [b.record_count for b in result.batches] == [1, 3, 100]
        assert [b.size for b in result.batches] == [len(p) for p in parts]
        assert {(b.producer_id, b.producer_epoch, b.base_sequence) for b in result.batches} == {
            (7, 1, 3)
        }


def test_many_batches_span_several_c_calls() -> None:
    buf = make_batch(b"r", 1) * 5000
    result = both_scan(buf)
    assert len(result.batches) == 5000 and result.error is None
    assert [b.position for b in result.batches] == list(range(0, len(buf), len(buf) // 5000))
    assert len(both_scan(buf, max_batches=1500).batches) == 1500


def test_every_flipped_byte_in_the_crc_range_is_bad_crc() -> None:
    first, second = kafka_python_batch(2, 20), kafka_python_batch(3, 30)
    buf = first + second + first
    start = len(first)
    for pos in range(start + 17, start + len(second)):  # the crc field itself, then attributes..end
        for mask in (0x01, 0x80, 0xFF):
            broken = bytearray(buf)
            broken[pos] ^= mask
            result = both_scan(broken)
            assert result.error == ScanError(start + 17, 1, "bad_crc"), (pos, mask)
            assert result.valid_bytes == start and len(result.batches) == 1


def test_offset_and_epoch_are_outside_the_crc() -> None:
    buf = bytearray(kafka_python_batch(2))
    buf[0:8] = struct.pack(">q", 12345)
    buf[12:16] = struct.pack(">i", 9)
    (info,) = both_scan(buf).batches
    assert (info.base_offset, info.partition_leader_epoch) == (12345, 9)


def test_every_truncation_point_is_truncated() -> None:
    first, second = kafka_python_batch(1), kafka_python_batch(4)
    buf = first + second
    for cut in range(1, len(buf)):
        result = both_scan(buf[:cut])
        if cut < len(first):
            assert result.error == ScanError(0, 0, "truncated"), cut
        elif cut == len(first):
            assert result.error is None and len(result.batches) == 1
        else:
            assert result.error == ScanError(len(first), 1, "truncated"), cut
        assert result.valid_bytes == (len(first) if cut >= len(first) else 0)


def test_empty_buffer() -> None:
    assert both_scan(b"") == ([], 0, None)
    assert both_scan(make_batch(), max_batches=0) == ([], 0, None)


@pytest.mark.parametrize("magic", [0, 1, 3, -1])
def test_wrong_magic(magic: int) -> None:
    good = make_batch(b"abc")
    buf = good + make_batch(b"abc", magic=magic)
    assert both_scan(buf).error == ScanError(len(good) + 16, 1, "bad_magic")


@pytest.mark.parametrize("length", [-(2**31), -1, 0, 12, 48])
def test_bad_length(length: int) -> None:
    buf = bytearray(make_batch(b"abc"))
    buf[8:12] = struct.pack(">i", length)
    assert both_scan(buf).error == ScanError(8, 0, "bad_length")


def test_length_past_the_end_is_truncated() -> None:
    buf = bytearray(make_batch(b"abc"))
    buf[8:12] = struct.pack(">i", 2**31 - 1)
    assert both_scan(buf).error == ScanError(0, 0, "truncated")


@pytest.mark.parametrize(
    ("count", "delta", "strict_ok", "lax_ok"),
    [
        (1, 0, True, True),
        (5, 4, True, True),
        (0, 0, False, True),  # compaction removed every record
        (0, -1, False, True),
        (3, 9, False, True),  # compaction removed some
        (0, -2, False, False),
        (2, 0, False, False),
        (-1, 0, False, False),
        (2**31 - 1, 2**31 - 1, False, True),
        (2**31 - 1, 2**31 - 2, True, True),
        (-(2**31), -(2**31), False, False),
    ],
)
def test_record_count_rules(count: int, delta: int, strict_ok: bool, lax_ok: bool) -> None:
    good = make_batch(b"x", 1)
    buf = good + make_batch(b"", count, delta)
    for strict, ok in ((True, strict_ok), (False, lax_ok)):
        error = both_scan(buf, strict=strict).error
        assert error == (None if ok else ScanError(len(good) + 57, 1, "bad_record_count")), strict


@pytest.mark.parametrize(
    ("buf", "kwargs", "error"),
    [
        ("text", {}, TypeError),
        (None, {}, TypeError),
        (memoryview(b"abcdef")[::2], {}, ValueError),
        (b"", {"max_batches": -1}, ValueError),
        (b"", {"max_batches": 1.5}, TypeError),
    ],
)
def test_scan_bad_arguments(buf: object, kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        native.scan_batches(buf, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error):
        twins.scan_batches(buf, **kwargs)  # type: ignore[arg-type]


# ---- assign_offsets -------------------------------------------------------------------------


@given(
    parts=st.lists(batches(lax_counts=True, min_delta=0), min_size=1, max_size=6),
    first=st.integers(0, 2**62),
    epoch=i32,
)
def test_assign_agrees_with_twin(parts: list[bytes], first: int, epoch: int) -> None:
    ours, theirs = bytearray(b"".join(parts)), bytearray(b"".join(parts))
    next_offset = native.assign_offsets(ours, first, epoch)
    assert twins.assign_offsets(theirs, first, epoch) == next_offset
    assert ours == theirs
    result = both_scan(ours, strict=False)
    assert result.error is None  # the CRC does not cover what was patched
    expected = first
    for info in result.batches:
        assert (info.base_offset, info.partition_leader_epoch) == (expected, epoch)
        expected = info.last_offset + 1
    assert next_offset == expected


def test_assign_real_batches_in_a_memoryview() -> None:
    parts = [kafka_python_batch(n) for n in (1, 3, 100)]
    frame = bytearray(b"head" + b"".join(parts) + b"tail")
    view = memoryview(frame)[4:-4]
    assert native.assign_offsets(view, 1000, 5) == 1104
    assert frame[:4] == b"head" and frame[-4:] == b"tail"
    result = both_scan(view)
    assert [b.base_offset for b in result.batches] == [1000, 1001, 1004]
    assert {b.partition_leader_epoch for b in result.batches} == {5}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b + b"\x00" * 10,  # trailing bytes shorter than a header
        lambda b: b[:8] + struct.pack(">i", 48) + b[12:],  # batchLength too small
        lambda b: b[:8] + struct.pack(">i", len(b)) + b[12:],  # past the end
        lambda b: b[:23] + struct.pack(">i", -1) + b[27:],  # negative lastOffsetDelta
    ],
)
def test_assign_refuses_bad_input_and_writes_nothing(mutate) -> None:  # type: ignore[no-untyped-def]
    good = kafka_python_batch(3)
    buf = bytearray(good + mutate(good))
    before = bytes(buf)
    for assign in (native.assign_offsets, twins.assign_offsets):
        with pytest.raises(NativeError):
            assign(buf, 77, 3)
        assert buf == before


def test_assign_overflow_and_arguments() -> None:
    buf = bytearray(make_batch(b"", 10))
    for assign in (native.assign_offsets, twins.assign_offsets):
        with pytest.raises(NativeError):
            assign(buf, 2**63 - 5, 0)
        with pytest.raises(TypeError):
            assign(bytes(buf), 0, 0)
        with pytest.raises(TypeError):
            assign(memoryview(bytes(buf)), 0, 0)
        with pytest.raises(ValueError):
            assign(buf, -1, 0)
        with pytest.raises(ValueError):
            assign(buf, 0, 2**31)
        with pytest.raises(TypeError):
            assign(buf, "0", 0)
    assert native.assign_offsets(bytearray(), 42, 0) == 42
