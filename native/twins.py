"""Pure-Python twins of the native core: same signatures, same results, same errors.

They are the oracle the C functions are tested against, and the fallback when
the extension is not built.  Written for clarity, not speed: every function
walks its input one field at a time, straight from the layouts documented in
``native.results`` and the record grammar of record batch v2.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence

from native.results import (
    CRC_OFFSET,
    CRC_START,
    EPOCH_OFFSET,
    HEADER_SIZE,
    LAST_OFFSET_DELTA_OFFSET,
    LENGTH_OFFSET,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    MIN_BATCH_LENGTH,
    RECORD_COUNT_OFFSET,
    DECODE_REASONS,
    BatchInfo,
    DecodedRecords,
    NativeError,
    RecordDecodeError,
    ScanError,
    ScanResult,
)

COMPILED = False
HARDWARE_CRC = False

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Kafka's AbstractIndex: the last 8 KiB of an index are what recent lookups touch,
# so searching them first keeps a lookup within pages that are already cached.
WARM_BYTES = 8192

_HEADER = struct.Struct(">qiibIhiqqqhii")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_Q64 = struct.Struct(">q")
_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _make_table()


def byte_view(data: object, *, writable: bool = False) -> memoryview:
    """``data`` as a flat memoryview of bytes; TypeError/ValueError for anything else."""
    if isinstance(data, str):
        raise TypeError("expected a bytes-like object, got str")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(data).__name__}") from None
    if not view.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    if writable and view.readonly:
        raise TypeError(f"expected a writable buffer, got read-only {type(data).__name__}")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an int within [low, high]; TypeError/ValueError otherwise."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} out of range [{low}, {high}]")
    return value


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc``; unsigned."""
    view = byte_view(data)
    crc = check_int("crc", crc, 0, 0xFFFFFFFF) ^ 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in view:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def scan_batches(
    buf: bytes | bytearray | memoryview, *, strict: bool = True, max_batches: int | None = None
) -> ScanResult:
    """Validate the record batches concatenated in ``buf`` and report their headers.

    Stops at the first invalid batch (``error`` says where and why), at the end
    of the buffer, or after ``max_batches`` batches.  ``strict`` (producer input)
    requires recordCount == lastOffsetDelta + 1 >= 1; otherwise (data read back
    from a log, where compaction removes records) 0 <= recordCount <= lastOffsetDelta + 1.
    """
    view = byte_view(buf)
    limit = None if max_batches is None else check_int("max_batches", max_batches, 0, 2**62)
    end = len(view)
    pos = 0
    batches: list[BatchInfo] = []
    error: ScanError | None = None

    def fail(position: int, reason: str) -> ScanError:
        return ScanError(position, len(batches), reason)

    while pos < end and (limit is None or len(batches) < limit):
        remaining = end - pos
        if remaining < LOG_OVERHEAD:
            error = fail(pos, "truncated")
            break
        (length,) = _I32.unpack_from(view, pos + LENGTH_OFFSET)
        if length < MIN_BATCH_LENGTH:
            error = fail(pos + LENGTH_OFFSET, "bad_length")
            break
        if remaining <= MAGIC_OFFSET:
            error = fail(pos, "truncated")
            break
        if view[pos + MAGIC_OFFSET] != 2:
            error = fail(pos + MAGIC_OFFSET, "bad_magic")
            break
        size = LOG_OVERHEAD + length
        if size > remaining:
            error = fail(pos, "truncated")
            break
        (
            base_offset,
            _length,
            epoch,
            magic,
            crc,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
        ) = _HEADER.unpack_from(view, pos)
        if crc32c(view[pos + CRC_START : pos + size]) != crc:
            error = fail(pos + CRC_OFFSET, "bad_crc")
            break
        if strict:
            count_ok = record_count >= 1 and record_count == last_offset_delta + 1
        else:
            count_ok = 0 <= record_count <= last_offset_delta + 1
        if not count_ok:
            error = fail(pos + RECORD_COUNT_OFFSET, "bad_record_count")
            break
        batches.append(
            BatchInfo(
                pos,
                size,
                base_offset,
                last_offset_delta,
                epoch,
                magic,
                crc,
                attributes,
                base_timestamp,
                max_timestamp,
                producer_id,
                producer_epoch,
                base_sequence,
                record_count,
            )
        )
        pos += size
    return ScanResult(batches, pos, error)


def assign_offsets(buf: bytearray | memoryview, first_offset: int, leader_epoch: int) -> int:
    """Patch baseOffset and partitionLeaderEpoch of every batch in ``buf``; return the next offset.

    Batches get consecutive offsets: the next batch starts at
    baseOffset + lastOffsetDelta + 1.  The buffer must hold whole batches
    (validated by ``scan_batches``); otherwise NativeError and nothing is written.
    """
    view = byte_view(buf, writable=True)
    offset = check_int("first_offset", first_offset, 0, INT64_MAX)
    check_int("leader_epoch", leader_epoch, -(2**31), INT32_MAX)
    end = len(view)
    bases = []
    pos = 0
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise NativeError(f"truncated batch at byte {pos}")
        (length,) = _I32.unpack_from(view, pos + LENGTH_OFFSET)
        if length < MIN_BATCH_LENGTH or LOG_OVERHEAD + length > end - pos:
            raise NativeError(f"bad batch length {length} at byte {pos}")
        (last_offset_delta,) = _I32.unpack_from(view, pos + LAST_OFFSET_DELTA_OFFSET)
        if last_offset_delta < 0:
            raise NativeError(f"negative lastOffsetDelta at byte {pos}")
        bases.append((pos, offset))
        offset += last_offset_delta + 1
        if offset > INT64_MAX:
            raise NativeError("offsets overflow a signed 64-bit integer")
        pos += LOG_OVERHEAD + length
    for pos, base in bases:
        _Q64.pack_into(view, pos, base)
        _I32.pack_into(view, pos + EPOCH_OFFSET, leader_epoch)
    return offset


def _last_at_most(key_at, n_entries: int, target: int, warm_entries: int) -> int:
    """Slot of the last entry whose key is <= target in sorted entries, -1 if none."""
    if n_entries == 0:
        return -1

    def search(lo: int, hi: int) -> int:  # precondition: key_at(lo) <= target
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if key_at(mid) <= target:
                lo = mid
            else:
                hi = mid - 1
        return lo

    first_warm = max(0, n_entries - 1 - warm_entries)
    if key_at(first_warm) <= target:
        return search(first_warm, n_entries - 1)
    if key_at(0) > target:
        return -1
    return search(0, first_warm)


def _check_index(buf: object, n_entries: int, entry_size: int) -> memoryview:
    view = byte_view(buf)
    check_int("n_entries", n_entries, 0, len(view) // entry_size)
    return view


def offset_index_lookup(
    buf: bytes | bytearray | memoryview, n_entries: int, target_relative_offset: int
) -> int:
    """Slot of the last offset-index entry with relative offset <= target; -1 if none.

    Entries are 8 bytes, big-endian: relative offset u32, file position u32.
    """
    view = _check_index(buf, n_entries, _OFFSET_ENTRY.size)
    target = check_int("target_relative_offset", target_relative_offset, INT64_MIN, INT64_MAX)
    return _last_at_most(
        lambda slot: _U32.unpack_from(view, slot * 8)[0], n_entries, target, WARM_BYTES // 8
    )


def time_index_lookup(
    buf: bytes | bytearray | memoryview, n_entries: int, target_timestamp: int
) -> int:
    """Slot of the last time-index entry with timestamp <= target; -1 if none.

    Entries are 12 bytes, big-endian: timestamp i64, relative offset u32.
    """
    view = _check_index(buf, n_entries, _TIME_ENTRY.size)
    target = check_int("target_timestamp", target_timestamp, INT64_MIN, INT64_MAX)
    return _last_at_most(
        lambda slot: _Q64.unpack_from(view, slot * 12)[0], n_entries, target, WARM_BYTES // 12
    )


def _varint(value: int, out: bytearray) -> None:
    """Append ``value`` zigzag-encoded as a base-128 varint (64-bit zigzag)."""
    zz = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    while zz >= 0x80:
        out.append((zz & 0x7F) | 0x80)
        zz >>= 7
    out.append(zz)


def _optional_bytes(name: str, item: object) -> bytes | None:
    if item is None:
        return None
    if isinstance(item, (str, int)):
        raise TypeError(f"{name} must be bytes-like or None, got {type(item).__name__}")
    try:
        return memoryview(item).tobytes()  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be bytes-like or None, got {type(item).__name__}") from None


def _same_length(name: str, seq: Sequence | None, n: int) -> list | None:
    if seq is None:
        return None
    items = list(seq)
    if len(items) != n:
        raise ValueError(f"{name} has {len(items)} items, values has {n}")
    return items


def encode_batch(
    header: bytes,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    timestamp_deltas: Sequence[int] | None = None,
    headers: Sequence[bytes | None] | None = None,
    *,
    into: bytearray | None = None,
) -> bytes | memoryview:
    """A whole uncompressed record batch v2: ``header`` (61 bytes, its batchLength and CRC
    ignored) then the records as ``encode_records`` encodes them from offset delta 0, with
    batchLength and CRC computed for the result. With ``into`` (a bytearray, never resized)
    the batch is written there and a memoryview of it returned, or a view of a new
    bytearray when it does not fit."""
    if into is not None and type(into) is not bytearray:
        raise TypeError(f"into must be a bytearray, got {type(into).__name__}")
    out = bytearray(header)
    if len(out) != HEADER_SIZE:
        raise ValueError(f"a batch header is {HEADER_SIZE} bytes, got {len(out)}")
    items = list(values)
    if not items:
        raise ValueError("a record batch needs at least one record")
    out += encode_records(items, keys, timestamp_deltas, headers)
    if len(out) - LOG_OVERHEAD > INT32_MAX:
        raise ValueError("a record batch longer than 2**31 - 1 bytes")
    struct.pack_into(">i", out, LENGTH_OFFSET, len(out) - LOG_OVERHEAD)
    struct.pack_into(">I", out, CRC_OFFSET, crc32c(memoryview(out)[CRC_START:]))
    if into is None:
        return bytes(out)
    if len(out) > len(into):
        return memoryview(out)
    into[: len(out)] = out
    return memoryview(into)[: len(out)]


def encode_records(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    timestamp_deltas: Sequence[int] | None = None,
    headers: Sequence[bytes | None] | None = None,
    offset_delta_start: int = 0,
) -> bytes:
    """Encode records v2 (the uncompressed records section of a batch).

    Record i gets offsetDelta ``offset_delta_start + i``, attributes 0, the
    given timestampDelta (0 when ``timestamp_deltas`` is None), key and value
    (None = null), and ``headers[i]`` as pre-encoded bytes (varint count then
    headers); a None or empty header section means zero headers.
    """
    items = list(values)
    n = len(items)
    key_items = _same_length("keys", keys, n)
    deltas = _same_length("timestamp_deltas", timestamp_deltas, n)
    header_items = _same_length("headers", headers, n)
    check_int("offset_delta_start", offset_delta_start, 0, INT32_MAX)
    if n and offset_delta_start + n - 1 > INT32_MAX:
        raise ValueError("offset deltas overflow a signed 32-bit integer")
    out = bytearray()
    for i in range(n):
        value = _optional_bytes("value", items[i])
        key = None if key_items is None else _optional_bytes("key", key_items[i])
        delta = 0 if deltas is None else deltas[i]
        if not isinstance(delta, int):
            raise TypeError(f"timestamp delta must be an int, got {type(delta).__name__}")
        if not INT64_MIN <= delta <= INT64_MAX:
            raise ValueError(f"timestamp delta {delta} out of the signed 64-bit range")
        header = None if header_items is None else _optional_bytes("headers", header_items[i])
        for part in (key, value):
            if part is not None and len(part) > INT32_MAX:
                raise ValueError("key or value longer than 2**31 - 1 bytes")

        body = bytearray(b"\x00")  # attributes
        _varint(delta, body)
        _varint(offset_delta_start + i, body)
        for part in (key, value):
            if part is None:
                _varint(-1, body)
            else:
                _varint(len(part), body)
                body += part
        body += header if header else b"\x00"
        if len(body) > INT32_MAX:
            raise NativeError("record longer than 2**31 - 1 bytes")
        _varint(len(body), out)
        out += body
    return bytes(out)


class _Reader:
    """A cursor over a records section; ``fail`` raises at the field being read."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0
        self.field = 0  # start of the field being read
        self.record = 0

    def fail(self, reason: str) -> RecordDecodeError:
        assert reason in DECODE_REASONS
        return RecordDecodeError(self.record, self.field, reason)

    def varint(self, end: int, max_bytes: int, past: str = "past_record_end") -> int:
        """The zigzag varint at the cursor, at most ``max_bytes`` long, within ``end``."""
        self.field = self.pos
        raw = 0
        for i in range(max_bytes):
            if self.pos >= end:
                raise self.fail(past)
            byte = self.view[self.pos]
            self.pos += 1
            raw |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                if raw >> (32 if max_bytes == 5 else 64):
                    raise self.fail("bad_varint")
                return (raw >> 1) ^ -(raw & 1)
        raise self.fail("bad_varint")

    def length(self, end: int, nullable: bool) -> int:
        """A length varint whose bytes must follow within ``end``; -1 (null) if ``nullable``."""
        size = self.varint(end, 5)
        if size < (-1 if nullable else 0):
            raise self.fail("negative_length")
        if size > end - self.pos:
            raise self.fail("past_record_end")
        return size


def decode_records(
    buf: bytes | bytearray | memoryview, count: int, base_offset: int = 0, base_timestamp: int = 0
) -> DecodedRecords:
    """Parse ``count`` records that must fill the uncompressed records section ``buf``.

    Returns the records as parallel columns (int64 arrays) of numbers and
    positions, see ``DecodedRecords``; nothing is copied from ``buf``.  The
    bases are added to the offset and timestamp deltas (summing in C spares
    the caller an integer object per record).  Raises RecordDecodeError (a
    NativeError) naming the record, the byte where the failing field starts
    and the reason (one of ``DECODE_REASONS``).
    """
    view = byte_view(buf)
    check_int("count", count, 0, INT64_MAX)
    check_int("base_offset", base_offset, INT64_MIN, INT64_MAX)
    check_int("base_timestamp", base_timestamp, INT64_MIN, INT64_MAX)
    out = DecodedRecords(*(array("q") for _ in DecodedRecords._fields))
    reader = _Reader(view)
    end_of_buffer = len(view)
    for index in range(count):
        reader.record = index
        length = reader.varint(end_of_buffer, 5, past="truncated")
        if length < 0:
            raise reader.fail("negative_length")
        if length > end_of_buffer - reader.pos:
            raise reader.fail("truncated")
        end = reader.pos + length

        reader.field = reader.pos
        if reader.pos >= end:
            raise reader.fail("past_record_end")
        reader.pos += 1  # attributes
        for column, base, max_bytes in ((out.timestamps, base_timestamp, 10),
                                        (out.offsets, base_offset, 5)):
            value = base + reader.varint(end, max_bytes)
            if not INT64_MIN <= value <= INT64_MAX:
                raise reader.fail("out_of_range")
            column.append(value)
        for starts, lengths in ((out.key_starts, out.key_lengths),
                                (out.value_starts, out.value_lengths)):
            size = reader.length(end, nullable=True)
            starts.append(reader.pos)
            lengths.append(size)
            reader.pos += max(size, 0)

        n_headers = reader.varint(end, 5)
        if n_headers < 0:
            raise reader.fail("negative_length")
        out.header_counts.append(n_headers)
        for _ in range(n_headers):
            size = reader.length(end, nullable=False)
            out.headers.extend((reader.pos, size))
            reader.pos += size
            size = reader.length(end, nullable=True)
            out.headers.extend((reader.pos, size))
            reader.pos += max(size, 0)

        reader.field = reader.pos
        if reader.pos != end:
            raise reader.fail("record_length_mismatch")
    reader.record = count
    reader.field = reader.pos
    if reader.pos != end_of_buffer:
        raise reader.fail("trailing_bytes")
    return out


def slices_format(
    a_starts: Sequence[int], a_lengths: Sequence[int], b_starts: Sequence[int],
    b_lengths: Sequence[int],
) -> bytes:
    """A ``struct`` format whose ``unpack_from(buf)`` gives a[0], b[0], a[1], b[1], ... as bytes.

    Slice i of a is ``buf[a_starts[i] : a_starts[i] + a_lengths[i]]``, and the
    same for b; a length of -1 (null) gives empty bytes.  The slices must be in
    ascending, non-overlapping order (as keys and values of decoded records
    are), else NativeError.  Unpacking creates every bytes object in one call,
    with no integer or slice object per item.
    """
    columns = []
    for name, items in (
        ("a_starts", a_starts), ("a_lengths", a_lengths),
        ("b_starts", b_starts), ("b_lengths", b_lengths),
    ):
        column = list(items)
        for item in column:
            if not isinstance(item, int):
                raise TypeError(f"{name} must be a sequence of ints, got {type(item).__name__}")
            if not INT64_MIN <= item <= INT64_MAX:
                raise ValueError(f"{name} holds an int outside the signed 64-bit range")
        columns.append(column)
    if len({len(column) for column in columns}) != 1:
        raise ValueError("slices_format needs four columns of the same length")
    parts = ["<"]
    pos = 0
    for a_start, a_length, b_start, b_length in zip(*columns):
        for start, length in ((a_start, a_length), (b_start, b_length)):
            if length < -1 or start < pos or max(length, 0) > INT64_MAX - start:
                raise NativeError("slices are not in ascending, non-overlapping order")
            length = max(length, 0)
            if start > pos:
                parts.append(f"{start - pos}x")
            parts.append(f"{length}s")
            pos = start + length
    return "".join(parts).encode("ascii")
