"""Record encoder: C against the twin and against kafka-python's batch builder."""

from __future__ import annotations

import array
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatchBuilder

import native
from native import NativeError, twins

optional_bytes = st.none() | st.binary(max_size=200)
header_lists = st.lists(
    st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)), max_size=3
)


def varint(value: int) -> bytes:
    zz = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte, zz = zz & 0x7F, zz >> 7
        if not zz:
            return bytes(out + bytes([byte]))
        out.append(byte | 0x80)


def header_section(headers: list[tuple[str, bytes | None]]) -> bytes:
    parts = [varint(len(headers))]
    for key, value in headers:
        raw = key.encode()
        parts += [varint(len(raw)), raw]
        parts += [varint(-1)] if value is None else [varint(len(value)), value]
    return b"".join(parts)


def both_encode(*args: object, **kwargs: object) -> bytes:
    ours = native.encode_records(*args, **kwargs)  # type: ignore[arg-type]
    assert ours == twins.encode_records(*args, **kwargs)  # type: ignore[arg-type]
    return ours


@given(
    values=st.lists(optional_bytes, max_size=30),
    data=st.data(),
    with_keys=st.booleans(),
    with_deltas=st.booleans(),
    with_headers=st.booleans(),
    start=st.integers(0, 2**31 - 31) | st.just(0),
)
def test_agrees_with_twin(values, data, with_keys, with_deltas, with_headers, start) -> None:  # type: ignore[no-untyped-def]
    n = len(values)
    fixed = st.lists(optional_bytes, min_size=n, max_size=n)
    keys = data.draw(fixed) if with_keys else None
    deltas = (
        data.draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
        if with_deltas
        else None
    )
    headers = None
    if with_headers:
        headers = [
            None if h is None else header_section(h)
            for h in data.draw(st.lists(st.none() | header_lists, min_size=n, max_size=n))
        ]
    both_encode(values, keys, deltas, headers, start)
    both_encode(
        tuple(values), keys=keys, timestamp_deltas=deltas, headers=headers, offset_delta_start=start
    )


@given(
    records=st.lists(
        st.tuples(optional_bytes, optional_bytes, st.integers(0, 10**9), header_lists),
        min_size=1,
        max_size=15,
    ),
    first_timestamp=st.integers(0, 2**50),
)
def test_matches_kafka_python(records, first_timestamp) -> None:  # type: ignore[no-untyped-def]
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 24,
    )
    for offset, (key, value, delta, headers) in enumerate(records):
        builder.append(
            offset, timestamp=first_timestamp + delta, key=key, value=value, headers=headers
        )
    built = bytes(builder.build())
    keys, values, deltas, headers = zip(*records, strict=True)
    relative = [
        d - deltas[0] for d in deltas
    ]  # kafka-python's base timestamp is the first record's
    ours = both_encode(list(values), list(keys), relative, [header_section(h) for h in headers])
    assert ours == built[61:]


def test_known_encoding() -> None:
    # length 8: attributes 0, ts delta 1 -> 02, offset delta 0 -> 00, null key -> 01,
    # value "ab" -> 04 61 62, no headers -> 00
    assert both_encode([b"ab"], timestamp_deltas=[1]) == bytes.fromhex("10 00 02 00 01 04 6162 00")
    assert both_encode([None], [b""]) == bytes.fromhex(
        "0c 00 00 00 00 01 00"
    )  # empty key, null value
    assert both_encode([]) == b""


def test_column_kinds() -> None:
    values = [b"a" * 100, bytearray(b"b" * 3), memoryview(b"xcx")[1:2], b""]
    expected = twins.encode_records([bytes(v) for v in values])
    assert native.encode_records(values) == expected
    assert native.encode_records(iter(values)) == expected
    # wider items: read as their raw bytes, like any other buffer
    ints = array.array("i", [1, 2, 3])
    assert both_encode([ints, None, b"z"], [None, ints, None]) == twins.encode_records(
        [ints.tobytes(), None, b"z"], [None, ints.tobytes(), None]
    )
    assert both_encode([b"v"] * 3, timestamp_deltas=array.array("q", [5, 6, 7]))
    assert both_encode([b"v"] * 3, timestamp_deltas=range(3), headers=[b"", None, b"\x00"])


def test_many_records_with_nulls_in_every_column() -> None:
    n = 5000
    values = [None if i % 7 == 0 else b"%d" % i * (i % 50) for i in range(n)]
    keys = [None if i % 3 == 0 else b"k%d" % i for i in range(n)]
    headers = [None if i % 2 else header_section([("h", b"%d" % i)]) for i in range(n)]
    both_encode(values, keys, range(0, 10 * n, 10), headers, 100)


@pytest.mark.parametrize("value_size", [10, 1000, 3000])
def test_several_chunks_and_growing_output(value_size: int) -> None:
    n = 3000  # the wrapper encodes 1024 records per C call
    values: list[object] = [bytes([i % 251]) * (value_size + i % 7) for i in range(n)]
    values[2500] = array.array("h", [1, 2, 3])  # wider items, in a later chunk
    values[1030] = None
    deltas = [i * 1000 - 5 for i in range(n)]
    ours = native.encode_records(values, timestamp_deltas=deltas, offset_delta_start=7)
    plain = [v.tobytes() if isinstance(v, array.array) else v for v in values]
    assert ours == twins.encode_records(plain, timestamp_deltas=deltas, offset_delta_start=7)


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (([b"a", "text"],), {}, TypeError),
        (([b"a", 0],), {}, TypeError),
        (([None, 0],), {}, TypeError),
        (([None, ""],), {}, TypeError),
        (([None, []],), {}, TypeError),
        (([b"a"], [b"k", b"k"]), {}, ValueError),
        (([b"a"], [1]), {}, TypeError),
        (([b"a"],), {"timestamp_deltas": [1, 2]}, ValueError),
        (([b"a"],), {"timestamp_deltas": [1.5]}, TypeError),
        (([b"a"],), {"timestamp_deltas": ["1"]}, TypeError),
        (([b"a"],), {"timestamp_deltas": [2**63]}, ValueError),
        (([b"a"],), {"headers": []}, ValueError),
        (([b"a"],), {"headers": ["x"]}, TypeError),
        (([b"a"],), {"offset_delta_start": -1}, ValueError),
        (([b"a"],), {"offset_delta_start": 2**31}, ValueError),
        (([b"a", b"b"],), {"offset_delta_start": 2**31 - 1}, ValueError),
        (([b"a"],), {"offset_delta_start": 1.0}, TypeError),
        ((5,), {}, TypeError),
    ],
)
def test_bad_arguments(args: tuple, kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        native.encode_records(*args, **kwargs)
    with pytest.raises(error):
        twins.encode_records(*args, **kwargs)


def test_native_error_is_a_value_error() -> None:
    assert issubclass(NativeError, ValueError)


def _header(record_count: int) -> bytes:
    # batchLength and crc deliberately wrong: encode_batch must compute both
    return struct.pack(
        ">qiibIhiqqqhii", 42, 12345, 7, 2, 0xDEADBEEF, 0, record_count - 1, 1000, 2000, 9, 1,
        5, record_count,
    )


def _assembled(header: bytes, section: bytes) -> bytes:
    out = bytearray(header) + section
    struct.pack_into(">i", out, 8, len(out) - 12)
    struct.pack_into(">I", out, 17, twins.crc32c(memoryview(out)[21:]))
    return bytes(out)


@given(
    values=st.lists(optional_bytes, min_size=1, max_size=30),
    data=st.data(),
    with_keys=st.booleans(),
    with_headers=st.booleans(),
)
def test_batch_is_header_then_records_with_length_and_crc(  # type: ignore[no-untyped-def]
    values, data, with_keys, with_headers
) -> None:
    n = len(values)
    keys = data.draw(st.lists(optional_bytes, min_size=n, max_size=n)) if with_keys else None
    headers = (
        [header_section(h) for h in data.draw(st.lists(header_lists, min_size=n, max_size=n))]
        if with_headers
        else None
    )
    deltas = data.draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n))
    header = _header(n)
    ours = native.encode_batch(header, values, keys, deltas, headers)
    assert ours == twins.encode_batch(header, values, keys, deltas, headers)
    assert ours == _assembled(header, twins.encode_records(values, keys, deltas, headers))
    assert native.scan_batches(ours).error is None


def test_batch_of_several_chunks_that_outgrows_the_scratch_buffer() -> None:
    n = 3000  # more than one C call's worth, and more than the reused buffer holds
    values = [bytes([i % 251]) * (500 + i % 13) for i in range(n)]
    keys = [None if i % 5 else b"k%d" % i for i in range(n)]
    ours = native.encode_batch(_header(n), values, keys)
    assert ours == _assembled(_header(n), twins.encode_records(values, keys))
    assert native.scan_batches(ours).error is None
    # the buffer is reused: a smaller batch afterwards carries nothing of the larger one
    small = native.encode_batch(_header(1), [b"x"])
    assert small == twins.encode_batch(_header(1), [b"x"])


@pytest.mark.parametrize(
    ("header", "values", "error"),
    [
        (b"\x00" * 60, [b"a"], ValueError),
        (b"\x00" * 62, [b"a"], ValueError),
        (b"\x00" * 61, [], ValueError),
        (b"\x00" * 61, [b"a", "text"], TypeError),
    ],
)
def test_batch_bad_arguments(header: bytes, values: list, error: type[Exception]) -> None:
    with pytest.raises(error):
        native.encode_batch(header, values)
    with pytest.raises(error):
        twins.encode_batch(header, values)


@pytest.mark.parametrize("encode", [native.encode_batch, twins.encode_batch])
def test_batch_into_a_reused_bytearray(encode) -> None:  # type: ignore[no-untyped-def]
    values = [b"%d" % i * 20 for i in range(2500)]
    expected = twins.encode_batch(_header(2500), values)
    buf = bytearray(len(expected) + 64 * 1024)  # headroom for the encoder's size bound
    view = encode(_header(2500), values, into=buf)
    assert view.obj is buf and view == expected
    size = len(buf)
    # reused for a smaller batch: written from the start, never resized
    view = encode(_header(1), [b"x"], into=buf)
    assert view.obj is buf and view == twins.encode_batch(_header(1), [b"x"])
    assert len(buf) == size
    # too small: a new bytearray holds the batch, the given one is left as it was
    small = bytearray(200)
    view = encode(_header(2500), values, into=small)
    assert view.obj is not small and view == expected and len(small) == 200
    with pytest.raises(TypeError):
        encode(_header(1), [b"x"], into=memoryview(bytearray(100)))
