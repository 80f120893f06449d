"""Record decoder: C against the twin on generated, real and damaged records sections."""

from __future__ import annotations

import struct
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder

import native
from native import DecodedRecords, NativeError, RecordDecodeError, twins
from native.results import DECODE_REASONS, HEADER_SIZE

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Header = tuple[bytes, bytes | None]
Row = tuple[int, int, bytes | None, bytes | None, list[Header]]


def varint(value: int, *, width: int = 0) -> bytes:
    """Zigzag base-128 of ``value``, padded with continuation bytes to ``width`` bytes."""
    zz = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zz >= 0x80 or len(out) + 1 < width:
        out.append((zz & 0x7F) | 0x80)
        zz >>= 7
    out.append(zz)
    return bytes(out)


def sized(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def record(row: Row, attributes: int = 0) -> bytes:
    """One record from (offset delta, timestamp delta, key, value, headers)."""
    offset_delta, timestamp_delta, key, value, headers = row
    body = bytes([attributes]) + varint(timestamp_delta) + varint(offset_delta)
    body += sized(key) + sized(value) + varint(len(headers))
    body += b"".join(sized(k) + sized(v) for k, v in headers)
    return varint(len(body)) + body


def both_decode(buf: bytes | bytearray | memoryview, count: int, *bases: int) -> DecodedRecords:
    """The compiled decoder's result after checking the twin returns or raises the same."""
    try:
        ours = native.decode_records(buf, count, *bases)
    except RecordDecodeError as exc:
        with pytest.raises(RecordDecodeError) as twin_error:
            twins.decode_records(buf, count, *bases)
        assert (exc.record, exc.position, exc.reason) == (
            twin_error.value.record,
            twin_error.value.position,
            twin_error.value.reason,
        )
        raise
    assert ours == twins.decode_records(buf, count, *bases)
    assert all(type(column) is array and column.typecode == "q" for column in ours)
    return ours


def decode_error(buf: bytes, count: int, *bases: int) -> tuple[int, int, str]:
    with pytest.raises(RecordDecodeError) as info:
        both_decode(buf, count, *bases)
    assert isinstance(info.value, NativeError)
    return info.value.record, info.value.position, info.value.reason


def rows_of(section: bytes, decoded: DecodedRecords) -> list[Row]:
    """The records back from the columns, cutting keys and values out of ``section``."""

    def cut(start: int, length: int) -> bytes | None:
        return None if length == -1 else section[start : start + length]

    flat = iter(decoded.headers)
    rows = []
    for i, n_headers in enumerate(decoded.header_counts):
        headers = [
            (cut(next(flat), next(flat)), cut(next(flat), next(flat))) for _ in range(n_headers)
        ]
        rows.append(
            (
                decoded.offsets[i],
                decoded.timestamps[i],
                cut(decoded.key_starts[i], decoded.key_lengths[i]),
                cut(decoded.value_starts[i], decoded.value_lengths[i]),
                headers,
            )
        )
    return rows


optional_bytes = st.none() | st.binary(max_size=150)
headers_st = st.lists(st.tuples(st.binary(max_size=12), optional_bytes), max_size=4)
rows_st = st.lists(
    st.tuples(
        st.integers(0, 2**31 - 1),
        st.integers(INT64_MIN, INT64_MAX),
        optional_bytes,
        optional_bytes,
        headers_st,
    ),
    max_size=25,
)


@given(rows=rows_st, attributes=st.integers(0, 255))
def test_generated_sections_decode_to_their_fields(rows: list[Row], attributes: int) -> None:
    section = b"".join(record(row, attributes) for row in rows)
    decoded = both_decode(section, len(rows))
    assert rows_of(section, decoded) == rows
    assert list(decoded.header_counts) == [len(row[4]) for row in rows]


@given(
    rows=rows_st,
    base_offset=st.integers(0, 2**62),
    base_timestamp=st.integers(-(2**62), 2**62),
)
def test_bases_are_added_to_the_deltas(
    rows: list[Row], base_offset: int, base_timestamp: int
) -> None:
    rows = [(o, t % 2**40, k, v, h) for o, t, k, v, h in rows]
    section = b"".join(map(record, rows))
    decoded = both_decode(section, len(rows), base_offset, base_timestamp)
    assert list(decoded.offsets) == [base_offset + row[0] for row in rows]
    assert list(decoded.timestamps) == [base_timestamp + row[1] for row in rows]


@given(rows=rows_st, data=st.data())
def test_every_cut_and_every_damaged_byte_agree_with_the_twin(rows: list[Row], data) -> None:  # type: ignore[no-untyped-def]
    section = b"".join(map(record, rows))
    count = len(rows) + data.draw(st.integers(-1, 1))
    if section:
        cut = data.draw(st.integers(0, len(section) - 1))
        position = data.draw(st.integers(0, len(section) - 1))
        damaged = bytearray(section)
        damaged[position] = data.draw(st.integers(0, 255))
        buffers = [section[:cut], bytes(damaged)]
    else:
        buffers = [section]
    for buf in buffers:
        try:
            both_decode(buf, max(count, 0))
        except RecordDecodeError as exc:
            assert 0 <= exc.position <= len(buf) and exc.reason in DECODE_REASONS


def kafka_python_section(rows: list[tuple[int, bytes | None, bytes | None, list]]) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 24,
    )
    for offset, (timestamp, key, value, headers) in enumerate(rows):
        builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
    return bytes(builder.build())[HEADER_SIZE:]


KAFKA_PYTHON_ROWS = [
    (1_700_000_000_000, b"key", b"value", []),
    (1_700_000_000_005, None, b"null key", [("trace", b"abc"), ("none", None)]),
    (1_699_999_999_990, b"k", None, [("", b"")]),
    (1_700_000_000_001, b"", b"", []),
    (1_700_000_001_000, b"big" * 100, bytes(range(256)) * 10, [("h\u00e9", b"v" * 300)]),
]


def test_kafka_python_records_section() -> None:
    section = kafka_python_section(KAFKA_PYTHON_ROWS)
    first = KAFKA_PYTHON_ROWS[0][0]
    decoded = both_decode(section, len(KAFKA_PYTHON_ROWS), 0, first)
    expected = [
        (i, ts, key, value, [(k.encode(), v) for k, v in headers])
        for i, (ts, key, value, headers) in enumerate(KAFKA_PYTHON_ROWS)
    ]
    assert rows_of(section, decoded) == expected


def test_every_truncation_of_a_real_section_is_refused_at_the_same_place() -> None:
    section = kafka_python_section(KAFKA_PYTHON_ROWS)
    count = len(KAFKA_PYTHON_ROWS)
    for cut in range(len(section)):
        record_index, position, reason = decode_error(section[:cut], count)
        assert position <= cut
        assert reason in ("truncated", "past_record_end")
    assert decode_error(section + b"\x00", count) == (count, len(section), "trailing_bytes")


def test_every_damaged_byte_of_a_real_section_agrees_with_the_twin() -> None:
    section = kafka_python_section(KAFKA_PYTHON_ROWS[:4])  # the large record adds nothing
    for position in range(len(section)):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(section)
            damaged[position] ^= flip
            try:
                both_decode(bytes(damaged), 4)
            except RecordDecodeError:
                pass


GOOD = record((0, 0, b"k", b"v", []))  # 0e 00 00 00 02 6b 02 76 00


@pytest.mark.parametrize(
    ("section", "count", "expected"),
    [
        pytest.param(b"", 1, (0, 0, "truncated"), id="no-record"),
        pytest.param(GOOD, 2, (1, len(GOOD), "truncated"), id="fewer-records-than-count"),
        pytest.param(GOOD[:-1], 1, (0, 0, "truncated"), id="record-past-the-end"),
        pytest.param(b"\x80", 1, (0, 0, "truncated"), id="length-varint-cut"),
        pytest.param(b"\x01" + GOOD[1:], 1, (0, 0, "negative_length"), id="negative-length"),
        pytest.param(b"\xff" * 6, 1, (0, 0, "bad_varint"), id="six-byte-varint"),
        pytest.param(b"\xff\xff\xff\xff\x1f", 1, (0, 0, "bad_varint"), id="33-bit-varint"),
        pytest.param(GOOD + GOOD, 1, (1, len(GOOD), "trailing_bytes"), id="more-than-count"),
        pytest.param(GOOD + b"\x00", 1, (1, len(GOOD), "trailing_bytes"), id="trailing-byte"),
        pytest.param(
            varint(9) + b"\x00\x00\x00\x03k\x02v\x00\x00", 1, (0, 4, "negative_length"),
            id="key-length-minus-2",
        ),
        pytest.param(
            varint(9) + b"\x00\x00\x00\x02k\x05v\x00\x00", 1, (0, 6, "negative_length"),
            id="value-length-minus-3",
        ),
        pytest.param(
            varint(9) + b"\x00\x00\x00\x02k\x02v\x00\x00", 1, (0, 9, "record_length_mismatch"),
            id="record-longer-than-its-fields",
        ),
        pytest.param(
            varint(6) + b"\x00\x00\x00\x02k\x02v\x00", 1, (0, 6, "past_record_end"),
            id="value-past-the-record",
        ),
        pytest.param(
            varint(5) + b"\x00\x00\x00\x00\x00", 1, (0, 6, "past_record_end"),
            id="header-count-missing",
        ),
        pytest.param(
            varint(0), 1, (0, 1, "past_record_end"), id="empty-record",
        ),
        pytest.param(
            varint(8) + b"\x00\x00\x00\x01\x01\x01\x01\x02", 1, (0, 6, "negative_length"),
            id="null-header-key",
        ),
        pytest.param(
            varint(8) + b"\x00\x00\x00\x01\x01\x03\x00\x00", 1, (0, 6, "negative_length"),
            id="negative-header-count",
        ),
        pytest.param(
            varint(8) + b"\x00\x00\x00\x01\x01\x02\x0a\x00", 1, (0, 7, "past_record_end"),
            id="header-key-past-the-record",
        ),
        pytest.param(
            varint(14) + b"\x00" + b"\xff" * 10 + b"\x00\x01\x01\x00", 1, (0, 2, "bad_varint"),
            id="eleven-byte-timestamp",
        ),
        pytest.param(
            varint(14) + b"\x00" + b"\x80" * 9 + b"\x02" + b"\x00\x01\x01\x00", 1,
            (0, 2, "bad_varint"), id="65-bit-timestamp",
        ),
    ],
)
def test_malformed_sections_fail_at_the_named_byte(
    section: bytes, count: int, expected: tuple[int, int, str]
) -> None:
    assert decode_error(section, count) == expected


def test_padded_varints_within_their_width_are_accepted() -> None:
    body = b"\x00" + varint(-5, width=10) + varint(3, width=5) + varint(1, width=5) + b"k"
    body += varint(-1, width=5) + varint(0, width=5)
    decoded = both_decode(varint(len(body), width=5) + body, 1)
    assert (decoded.timestamps[0], decoded.offsets[0], decoded.value_lengths[0]) == (-5, 3, -1)


def test_sums_outside_int64_are_refused() -> None:
    section = record((5, -10, None, b"v", []))
    assert decode_error(section, 1, INT64_MAX - 4, 0) == (0, 3, "out_of_range")
    assert decode_error(section, 1, 0, INT64_MIN + 9) == (0, 2, "out_of_range")
    decoded = both_decode(section, 1, INT64_MAX - 5, INT64_MIN + 10)
    assert (decoded.offsets[0], decoded.timestamps[0]) == (INT64_MAX, INT64_MIN)


def test_a_huge_claimed_count_fails_without_a_huge_allocation() -> None:
    assert decode_error(GOOD * 3, 2**40) == (3, 3 * len(GOOD), "truncated")


def test_more_headers_than_the_first_scratch_array_holds() -> None:
    headers = [(b"h%d" % i, None if i % 3 else b"x") for i in range(3000)]
    rows: list[Row] = [(i, i, b"k", b"v", headers) for i in range(3)]
    section = b"".join(map(record, rows))
    decoded = both_decode(section, 3)
    assert len(decoded.headers) == 4 * 9000
    assert rows_of(section, decoded) == rows


def test_zero_records_and_every_buffer_type() -> None:
    assert both_decode(b"", 0) == DecodedRecords(*(array("q") for _ in range(8)))
    section = record((0, 7, b"key", None, []))
    expected = both_decode(section, 1)
    for buf in (bytearray(section), memoryview(section), memoryview(b"xx" + section)[2:]):
        assert both_decode(buf, 1) == expected


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("abc", 1), TypeError),
        ((object(), 1), TypeError),
        ((b"", -1), ValueError),
        ((b"", 1.0), TypeError),
        ((b"", 0, 2**63), ValueError),
        ((b"", 0, 0, "0"), TypeError),
        ((memoryview(b"abcd")[::2], 0), ValueError),
    ],
)
def test_bad_arguments(args: tuple, error: type[Exception]) -> None:
    for decode in (native.decode_records, twins.decode_records):
        with pytest.raises(error):
            decode(*args)


# -- slices_format -----------------------------------------------------------------------


def both_format(*columns: object) -> bytes:
    ours = native.slices_format(*columns)  # type: ignore[arg-type]
    assert ours == twins.slices_format(*columns)  # type: ignore[arg-type]
    return ours


@given(rows=rows_st)
def test_slices_format_cuts_keys_and_values(rows: list[Row]) -> None:
    section = b"".join(map(record, rows))
    decoded = both_decode(section, len(rows))
    layout = both_format(
        decoded.key_starts, decoded.key_lengths, decoded.value_starts, decoded.value_lengths
    )
    expected = []
    for _, _, key, value, _ in rows:
        expected += [key or b"", value or b""]
    assert struct.unpack_from(layout, section) == tuple(expected)
    assert struct.calcsize(layout) <= len(section)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(-1, 10**6)), max_size=20))
def test_slices_format_agrees_with_the_twin_on_any_slices(pairs: list[tuple[int, int]]) -> None:
    half = len(pairs) // 2
    a, b = pairs[:half], pairs[half : 2 * half]
    columns = [[s for s, _ in a], [n for _, n in a], [s for s, _ in b], [n for _, n in b]]
    try:
        both_format(*columns)
    except NativeError:
        with pytest.raises(NativeError):
            twins.slices_format(*columns)


def test_slices_format_examples() -> None:
    assert both_format([], [], [], []) == b"<"
    assert both_format([3], [2], [5], [-1]) == b"<3x2s0s"
    assert both_format(array("q", [0]), array("q", [10**12]), [10**12 + 7], [1]) == (
        b"<1000000000000s7x1s"
    )


@pytest.mark.parametrize(
    "columns",
    [
        ([5], [2], [6], [1]),  # b starts inside a
        ([5], [0], [4], [1]),  # b before a
        ([0, 0], [1, 1], [1, 1], [1, 1]),  # record 1 before record 0 ends
        ([0], [-2], [1], [1]),  # length below -1
        ([INT64_MAX], [1], [INT64_MAX], [0]),  # end past int64
    ],
)
def test_slices_format_refuses_overlapping_or_unordered_slices(columns: tuple) -> None:
    for function in (native.slices_format, twins.slices_format):
        with pytest.raises(NativeError):
            function(*columns)


def test_slices_format_refuses_columns_of_different_lengths_or_types() -> None:
    for function in (native.slices_format, twins.slices_format):
        with pytest.raises(ValueError):
            function([0], [1], [2], [])
        with pytest.raises(TypeError):
            function(["0"], [1], [2], [3])
        with pytest.raises(ValueError):
            function([2**63], [1], [2], [3])
