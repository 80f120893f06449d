"""Wire primitives: one reader and one writer per Kafka type.

Readers take ``(buf, pos)`` — ``buf`` a memoryview of a whole frame — and return
``(value, new_pos)``. Every length or count is checked against the bytes that remain before
anything is sliced or allocated. A read past the end surfaces as ``struct.error`` or
``IndexError``; the codec's entry points turn those into :class:`RemoteProtocolError`.

Writers take ``(out, value)`` and append to a bytearray. Classic strings and bytes carry an
int16 / int32 length (-1 for null); compact ("flexible") ones carry an unsigned varint of
length + 1 (0 for null). Signed varints use zigzag.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

from client.protocol.errors import LocalProtocolError, RemoteProtocolError

Reader = Callable[[memoryview, int], tuple[Any, int]]
Writer = Callable[[bytearray, Any], None]

INT8 = struct.Struct(">b")
INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
INT64 = struct.Struct(">q")
UINT16 = struct.Struct(">H")
UINT32 = struct.Struct(">I")
FLOAT64 = struct.Struct(">d")
BOOL = struct.Struct(">?")

ZERO_UUID = uuid.UUID(int=0)


def _fixed_reader(s: struct.Struct) -> Reader:
    unpack_from = s.unpack_from
    size = s.size

    def read(buf: memoryview, pos: int) -> tuple[Any, int]:
        return unpack_from(buf, pos)[0], pos + size

    return read


def _fixed_writer(s: struct.Struct) -> Writer:
    pack = s.pack

    def write(out: bytearray, value: Any) -> None:
        out += pack(value)

    return write


read_int8 = _fixed_reader(INT8)
read_int16 = _fixed_reader(INT16)
read_int32 = _fixed_reader(INT32)
read_int64 = _fixed_reader(INT64)
read_uint16 = _fixed_reader(UINT16)
read_uint32 = _fixed_reader(UINT32)
read_float64 = _fixed_reader(FLOAT64)
read_bool = _fixed_reader(BOOL)
write_int8 = _fixed_writer(INT8)
write_int16 = _fixed_writer(INT16)
write_int32 = _fixed_writer(INT32)
write_int64 = _fixed_writer(INT64)
write_uint16 = _fixed_writer(UINT16)
write_uint32 = _fixed_writer(UINT32)
write_float64 = _fixed_writer(FLOAT64)
write_bool = _fixed_writer(BOOL)


# --- varints ---------------------------------------------------------------------------


def _read_unsigned(buf: memoryview, pos: int, max_bytes: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    shift = 7
    end = pos + max_bytes
    pos += 1
    while True:
        if pos >= end:
            raise RemoteProtocolError(f"varint longer than {max_bytes} bytes")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Unsigned varint of at most 32 bits (5 bytes)."""
    value, pos = _read_unsigned(buf, pos, 5)
    if value > 0xFFFFFFFF:
        raise RemoteProtocolError("unsigned varint exceeds 32 bits")
    return value, pos


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Zigzag signed varint, 32 bits."""
    value, pos = read_uvarint(buf, pos)
    return (value >> 1) ^ -(value & 1), pos


def read_varlong(buf: memoryview, pos: int) -> tuple[int, int]:
    """Zigzag signed varint, 64 bits (10 bytes at most)."""
    value, pos = _read_unsigned(buf, pos, 10)
    if value > 0xFFFFFFFFFFFFFFFF:
        raise RemoteProtocolError("varlong exceeds 64 bits")
    return (value >> 1) ^ -(value & 1), pos


_SMALL_UVARINTS = [bytes((i,)) for i in range(128)]


def encode_uvarint(value: int) -> bytes:
    """Unsigned varint bytes of a non-negative int below 2**64."""
    if 0 <= value < 0x80:
        return _SMALL_UVARINTS[value]
    if value < 0 or value > 0xFFFFFFFFFFFFFFFF:
        raise LocalProtocolError(f"unsigned varint out of range: {value}")
    parts = bytearray()
    while value >= 0x80:
        parts.append((value & 0x7F) | 0x80)
        value >>= 7
    parts.append(value)
    return bytes(parts)


def write_uvarint(out: bytearray, value: int) -> None:
    """Append an unsigned varint (32-bit range)."""
    if value > 0xFFFFFFFF:
        raise LocalProtocolError(f"unsigned varint exceeds 32 bits: {value}")
    out += encode_uvarint(value)


def write_varint(out: bytearray, value: int) -> None:
    """Append a zigzag varint (32-bit range)."""
    if not -0x80000000 <= value <= 0x7FFFFFFF:
        raise LocalProtocolError(f"varint out of 32-bit range: {value}")
    out += encode_uvarint(((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def write_varlong(out: bytearray, value: int) -> None:
    """Append a zigzag varlong (64-bit range)."""
    if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        raise LocalProtocolError(f"varlong out of 64-bit range: {value}")
    out += encode_uvarint(((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


# --- uuid ----------------------------------------------------------------------------------


def read_uuid(buf: memoryview, pos: int) -> tuple[uuid.UUID, int]:
    """16 raw bytes as a UUID."""
    end = pos + 16
    if end > len(buf):
        raise RemoteProtocolError("uuid runs past the end of the frame")
    return uuid.UUID(bytes=bytes(buf[pos:end])), end


def write_uuid(out: bytearray, value: uuid.UUID | bytes) -> None:
    """Append a UUID given as uuid.UUID or 16 bytes."""
    raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
    if len(raw) != 16:
        raise LocalProtocolError("a uuid is 16 bytes")
    out += raw


# --- lengths -------------------------------------------------------------------------------


def _check_length(buf: memoryview, pos: int, length: int, what: str) -> int:
    end = pos + length
    if end > len(buf):
        raise RemoteProtocolError(
            f"{what} declares {length} bytes but {len(buf) - pos} remain in the frame"
        )
    return end


def _length_reader(compact: bool, wide: bool) -> Callable[[memoryview, int], tuple[int, int]]:
    """Reader of a length prefix: -1 means null in all four encodings."""
    if compact:

        def read_compact(buf: memoryview, pos: int) -> tuple[int, int]:
            n, pos = read_uvarint(buf, pos)
            return n - 1, pos

        return read_compact
    return read_int32 if wide else read_int16


def _length_writer(compact: bool, wide: bool) -> Callable[[bytearray, int], None]:
    if compact:

        def write_compact(out: bytearray, n: int) -> None:
            out += encode_uvarint(n + 1)

        return write_compact
    s = INT32 if wide else INT16
    pack = s.pack
    limit = 0x7FFFFFFF if wide else 0x7FFF

    def write_classic(out: bytearray, n: int) -> None:
        if n > limit:
            raise LocalProtocolError(f"length {n} does not fit the {s.size * 8}-bit prefix")
        out += pack(n)

    return write_classic


def string_reader(compact: bool, nullable: bool) -> Reader:
    """Reader of a (compact) (nullable) string, decoded as UTF-8."""
    read_len = _length_reader(compact, wide=False)

    def read(buf: memoryview, pos: int) -> tuple[str | None, int]:
        n, pos = read_len(buf, pos)
        if n < 0:
            if nullable and n == -1:
                return None, pos
            raise RemoteProtocolError(f"invalid string length {n}")
        end = _check_length(buf, pos, n, "string")
        return str(buf[pos:end], "utf-8"), end

    return read


def string_writer(compact: bool, nullable: bool) -> Writer:
    """Writer of a (compact) (nullable) string."""
    write_len = _length_writer(compact, wide=False)

    def write(out: bytearray, value: str | None) -> None:
        if value is None:
            if not nullable:
                raise LocalProtocolError("null given for a non-nullable string")
            write_len(out, -1)
            return
        raw = value.encode("utf-8")
        write_len(out, len(raw))
        out += raw

    return write


def bytes_reader(compact: bool, nullable: bool, view: bool = False) -> Reader:
    """Reader of (compact) (nullable) bytes; ``view`` returns a memoryview into the frame."""
    read_len = _length_reader(compact, wide=True)

    def read(buf: memoryview, pos: int) -> tuple[bytes | memoryview | None, int]:
        n, pos = read_len(buf, pos)
        if n < 0:
            if nullable and n == -1:
                return None, pos
            raise RemoteProtocolError(f"invalid bytes length {n}")
        end = _check_length(buf, pos, n, "bytes")
        chunk = buf[pos:end]
        return (chunk if view else bytes(chunk)), end

    return read


def bytes_writer(compact: bool, nullable: bool) -> Writer:
    """Writer of (compact) (nullable) bytes from any bytes-like value."""
    write_len = _length_writer(compact, wide=True)

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            if not nullable:
                raise LocalProtocolError("null given for non-nullable bytes")
            write_len(out, -1)
            return
        write_len(out, memoryview(value).nbytes)
        out += value

    return write


def records_length_writer(compact: bool) -> Callable[[bytearray, int], None]:
    """Writer of the length prefix of a records field (records are nullable bytes)."""
    return _length_writer(compact, wide=True)


def array_count_reader(compact: bool) -> Callable[[memoryview, int], tuple[int, int]]:
    """Reader of an array's element count (-1 = null)."""
    return _length_reader(compact, wide=True)


def array_count_writer(compact: bool) -> Callable[[bytearray, int], None]:
    """Writer of an array's element count (-1 = null)."""
    return _length_writer(compact, wide=True)
