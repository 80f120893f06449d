"""Records inside a batch: the Record tuple, the records-section parser, header encoding.

Each record in the (decompressed) records section of a batch is::

    length            varint   bytes of the record after this field
    attributes        int8     unused, 0
    timestampDelta    varlong  record timestamp - batch baseTimestamp
    offsetDelta       varint   record offset - batch baseOffset
    keyLength         varint   -1 for a null key
    key               bytes
    valueLength       varint   -1 for a null value
    value             bytes
    headerCount       varint
    headers           per header: keyLength varint, key (UTF-8),
                                  valueLength varint (-1 = null), value

Every varint is zigzag-encoded base-128, least significant group first.
Encoding and decoding both go through the native core: the decoder parses a
whole section in one C call and hands back columns of positions, from which
keys, values and headers are cut in bulk.  No Python code runs per record
(only per null key or value, when nulls and non-nulls mix in one batch).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, compress, islice, repeat
from operator import eq
from struct import Struct
from typing import NamedTuple

import native
from client.records.errors import RecordsError

__all__ = [
    "Header",
    "Record",
    "RecordColumns",
    "decode_columns",
    "decode_records",
    "encode_headers",
]

Header = tuple[str, bytes | None]


class Record(NamedTuple):
    """One decoded record; ``offset`` and ``timestamp`` are absolute (deltas applied)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]


_tuple_new = tuple.__new__


def _put_varint(value: int, out: bytearray) -> None:
    raw = (value << 1) ^ (value >> 63)
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)


def encode_headers(headers: Sequence[Header] | None) -> bytes | None:
    """One record's header section (count, then each header) as the encoder expects it.

    None or an empty sequence gives None: the encoder then writes a zero count.
    """
    if not headers:
        return None
    out = bytearray()
    _put_varint(len(headers), out)
    for key, value in headers:
        if not isinstance(key, str):
            raise TypeError(f"header key must be str, got {type(key).__name__}")
        raw_key = key.encode("utf-8")
        _put_varint(len(raw_key), out)
        out += raw_key
        if value is None:
            out.append(1)  # zigzag(-1)
        else:
            raw_value = memoryview(value)
            _put_varint(raw_value.nbytes, out)
            out += raw_value
    return bytes(out)


class RecordColumns(NamedTuple):
    """The records of one batch as parallel sequences, one item per record.

    ``Record`` and the consumer's own record tuples are built from these with
    C-level ``zip``, so no Python code runs per record.
    """

    offsets: Sequence[int]
    timestamps: Sequence[int]
    keys: Sequence[bytes | None]
    values: Sequence[bytes | None]
    headers: list[list[Header]]


def decode_columns(
    data: bytes | memoryview,
    count: int,
    base_offset: int,
    base_timestamp: int,
    fixed_timestamp: int | None,
) -> RecordColumns:
    """Parse ``count`` records that must fill ``data`` exactly, as columns.

    ``fixed_timestamp`` (the batch's maxTimestamp under LogAppendTime) replaces
    every record's own timestamp when given.  Raises RecordsError naming the
    record and byte when the section is malformed.

    The native decoder validates the section and reports where each field is;
    one ``struct`` unpack then cuts every key and value out of ``data``, and
    another every header key and value.
    """
    try:
        # under LogAppendTime the record timestamps are not used: no base to add
        decoded = native.decode_records(
            data, count, base_offset, base_timestamp if fixed_timestamp is None else 0
        )
    except native.RecordDecodeError as exc:
        raise RecordsError(
            f"record {exc.record} (byte {exc.position} of the records section): "
            f"{exc.reason.replace('_', ' ')}"
        ) from None
    fields = _unpack_slices(
        data, decoded.key_starts, decoded.key_lengths, decoded.value_starts, decoded.value_lengths
    )
    keys = _nulls_restored(fields[0::2], decoded.key_lengths)
    values = _nulls_restored(fields[1::2], decoded.value_lengths)
    offsets = decoded.offsets.tolist()
    if fixed_timestamp is not None:
        timestamps = [fixed_timestamp] * count
    else:
        timestamps = decoded.timestamps.tolist()
    if decoded.headers:
        headers = _decode_headers(data, decoded)
    else:
        headers = list(map(list, repeat((), count)))  # a list of its own for every record
    return _tuple_new(RecordColumns, (offsets, timestamps, keys, values, headers))


def decode_records(
    data: bytes | memoryview,
    count: int,
    base_offset: int,
    base_timestamp: int,
    fixed_timestamp: int | None,
) -> list[Record]:
    """Parse ``count`` records that must fill ``data`` exactly.

    ``fixed_timestamp`` (the batch's maxTimestamp under LogAppendTime) replaces
    every record's own timestamp when given.  Raises RecordsError naming the
    record and byte when the section is malformed.
    """
    columns = decode_columns(data, count, base_offset, base_timestamp, fixed_timestamp)
    return list(map(_tuple_new, repeat(Record), zip(*columns)))


def _unpack_slices(
    data: bytes | memoryview, a_starts: array, a_lengths: array, b_starts: array, b_lengths: array
) -> tuple[bytes, ...]:
    """The slices of ``data`` that the four columns name, a and b interleaved, nulls as b""."""
    layout = native.slices_format(a_starts, a_lengths, b_starts, b_lengths)
    return Struct(layout).unpack_from(data)


def _nulls_restored(items: tuple[bytes, ...], lengths: array) -> Sequence[bytes | None]:
    """``items`` with None wherever ``lengths`` says -1 (the slices gave b"" there)."""
    nulls = lengths.count(-1)
    if not nulls:
        return items
    if nulls == len(items):
        return [None] * nulls
    restored: list[bytes | None] = list(items)
    for index in compress(range(len(items)), map(eq, lengths, repeat(-1))):
        restored[index] = None
    return restored


def _decode_headers(data: bytes | memoryview, decoded: native.DecodedRecords) -> list[list[Header]]:
    """Every record's headers, from the flat header columns of ``decoded``."""
    flat = decoded.headers
    fields = _unpack_slices(data, flat[0::4], flat[1::4], flat[2::4], flat[3::4])
    raw_keys = fields[0::2]
    try:
        keys = list(map(bytes.decode, raw_keys))
    except UnicodeDecodeError:
        raise _bad_header_key(raw_keys, flat, decoded.header_counts) from None
    values = _nulls_restored(fields[1::2], flat[3::4])
    pairs = iter(zip(keys, values))
    # islice takes each record's headers in turn from the one shared iterator
    return list(map(list, map(islice, repeat(pairs), decoded.header_counts)))


def _bad_header_key(raw_keys: Sequence[bytes], flat: array, counts: array) -> RecordsError:
    """The error for the first header key that is not UTF-8: its record and byte."""
    for index, raw in enumerate(raw_keys):
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            record = bisect_right(list(accumulate(counts)), index)
            return RecordsError(
                f"record {record} (byte {flat[4 * index]} of the records section): "
                f"header key is not UTF-8: {exc}"
            )
    raise AssertionError("no header key failed to decode")  # pragma: no cover
