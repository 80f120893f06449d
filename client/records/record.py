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
Encoding goes through the native encoder; this module only decodes, which has
to walk the records one by one in Python, so the loop keeps the one-byte
varint case inline and leaves longer varints to a helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from client.records.errors import RecordsError

__all__ = ["Header", "Record", "decode_records", "encode_headers"]

Header = tuple[str, bytes | None]


class Record(NamedTuple):
    """One decoded record; ``offset`` and ``timestamp`` are absolute (deltas applied)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]


_tuple_new = tuple.__new__


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` and the position after it (any width up to 64 bits)."""
    shift = 0
    raw = 0
    while True:
        byte = data[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
        if shift > 63:
            raise RecordsError(f"varint longer than 10 bytes ending at byte {pos}")


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


def decode_records(
    data: bytes, count: int, base_offset: int, base_timestamp: int, fixed_timestamp: int | None
) -> list[Record]:
    """Parse ``count`` records that must fill ``data`` exactly.

    ``fixed_timestamp`` (the batch's maxTimestamp under LogAppendTime) replaces
    every record's own timestamp when given.  Raises RecordsError naming the
    record and byte when the section is malformed.
    """
    records: list[Record] = []
    append = records.append
    end = len(data)
    pos = 0
    index = 0
    try:
        for index in range(count):
            byte = data[pos]
            if byte < 0x80:
                length = (byte >> 1) ^ -(byte & 1)
                pos += 1
            else:
                length, pos = _varint(data, pos)
            record_end = pos + length
            if length < 6 or record_end > end:  # 6: attributes + five one-byte varints
                raise RecordsError(f"record length {length} does not fit")
            pos += 1  # attributes

            byte = data[pos]
            if byte < 0x80:
                timestamp_delta = (byte >> 1) ^ -(byte & 1)
                pos += 1
            else:
                timestamp_delta, pos = _varint(data, pos)
            byte = data[pos]
            if byte < 0x80:
                offset_delta = (byte >> 1) ^ -(byte & 1)
                pos += 1
            else:
                offset_delta, pos = _varint(data, pos)

            byte = data[pos]
            if byte < 0x80:
                size = (byte >> 1) ^ -(byte & 1)
                pos += 1
            else:
                size, pos = _varint(data, pos)
            if size < 0:
                if size != -1:
                    raise RecordsError(f"key length {size}")
                key = None
            else:
                key = data[pos : pos + size]
                pos += size

            byte = data[pos]
            if byte < 0x80:
                size = (byte >> 1) ^ -(byte & 1)
                pos += 1
            else:
                size, pos = _varint(data, pos)
            if size < 0:
                if size != -1:
                    raise RecordsError(f"value length {size}")
                value = None
            else:
                value = data[pos : pos + size]
                pos += size

            byte = data[pos]
            if byte == 0:
                headers: list[Header] = []
                pos += 1
            else:
                headers, pos = _decode_headers(data, pos)

            if pos != record_end:
                raise RecordsError(f"record fields end at byte {pos}, its length says {record_end}")
            append(
                _tuple_new(
                    Record,
                    (
                        base_offset + offset_delta,
                        base_timestamp + timestamp_delta
                        if fixed_timestamp is None
                        else fixed_timestamp,
                        key,
                        value,
                        headers,
                    ),
                )
            )
    except RecordsError as exc:
        raise RecordsError(f"record {index} (byte {pos} of the records section): {exc}") from None
    except IndexError:
        raise RecordsError(f"record {index}: records section truncated at byte {pos}") from None
    if pos != end:
        raise RecordsError(f"{end - pos} bytes left after the batch's {count} records")
    return records


def _decode_headers(data: bytes, pos: int) -> tuple[list[Header], int]:
    count, pos = _varint(data, pos)
    if count < 0:
        raise RecordsError(f"header count {count}")
    headers: list[Header] = []
    for _ in range(count):
        size, pos = _varint(data, pos)
        if size < 0 or pos + size > len(data):
            raise RecordsError(f"header key length {size}")
        try:
            key = data[pos : pos + size].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordsError(f"header key is not UTF-8: {exc}") from None
        pos += size
        size, pos = _varint(data, pos)
        if size < -1 or pos + size > len(data):
            raise RecordsError(f"header value length {size}")
        if size == -1:
            value = None
        else:
            value = data[pos : pos + size]
            pos += size
        headers.append((key, value))
    return headers, pos
