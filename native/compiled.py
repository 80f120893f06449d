"""Python side of the compiled functions: argument checks, then one C call each.

Imported by ``native/__init__.py`` only when ``native._rillet`` loaded.  The
errors match the twins in ``native.twins``: TypeError for a wrong type,
ValueError for a wrong value, NativeError (a ValueError) when C refuses input.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Sequence
from functools import partial
from itertools import repeat
from operator import is_not, length_hint

from native._rillet import ffi, lib  # type: ignore[import-not-found]
from native.results import (
    CRC_OFFSET,
    CRC_START,
    DECODE_REASONS,
    HEADER_SIZE,
    LENGTH_OFFSET,
    LOG_OVERHEAD,
    MIN_RECORD_SIZE,
    REASONS,
    BatchInfo,
    DecodedRecords,
    NativeError,
    RecordDecodeError,
    ScanError,
    ScanResult,
)
from native.twins import INT32_MAX, INT64_MAX, INT64_MIN, check_int

lib.rl_crc32c_init()  # already run at load on GCC/Clang; cheap and idempotent
HARDWARE_CRC = bool(lib.rl_crc32c_hw())

_from_buffer = ffi.from_buffer
_struct_pack = struct.pack
_buffer = ffi.buffer
_unpack = ffi.unpack
_new = ffi.new
# Output buffers are written in full by C before they are read: skip the zeroing.
_new_raw = ffi.new_allocator(should_clear_after_alloc=False)
_tuple_new = tuple.__new__
_is_not_none = partial(is_not, None)

# rl_batch_info is 14 int64 fields with no padding (asserted in scan.c).
_INFO_STRUCT = struct.Struct("=14q")
assert _INFO_STRUCT.size == ffi.sizeof("rl_batch_info")
_LENGTH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_SCAN_CHUNK = 1024  # batch slots per C call; more batches take more calls
# Per-thread buffers the C functions write into, reused from call to call.
_local = threading.local()


def _bytes_arg(data: object) -> object:
    """A cffi view of ``data``'s bytes (no copy); TypeError/ValueError as the twins raise."""
    if type(data) is bytes:
        return data  # cffi passes bytes to `const uint8_t *` without a copy
    if isinstance(data, str):
        raise TypeError("expected a bytes-like object, got str")
    try:
        return _from_buffer("uint8_t[]", data)
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(data).__name__}") from None
    except BufferError:
        raise ValueError("buffer must be C-contiguous") from None


def _writable_bytes_arg(data: object) -> object:
    if isinstance(data, (str, bytes)):
        raise TypeError(f"expected a writable buffer, got {type(data).__name__}")
    try:
        return _from_buffer("uint8_t[]", data, require_writable=True)
    except TypeError:
        raise TypeError(f"expected a writable buffer, got {type(data).__name__}") from None
    except BufferError:
        if memoryview(data).readonly:  # type: ignore[arg-type]
            raise TypeError(
                f"expected a writable buffer, got read-only {type(data).__name__}"
            ) from None
        raise ValueError("buffer must be C-contiguous") from None


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc``; unsigned."""
    if type(crc) is not int and not isinstance(crc, int):
        raise TypeError(f"crc must be an int, got {type(crc).__name__}")
    if not 0 <= crc <= 0xFFFFFFFF:
        raise ValueError(f"crc={crc} out of range [0, 4294967295]")
    if type(data) is bytes:
        return lib.rl_crc32c(crc, data, len(data))
    buf = _bytes_arg(data)
    return lib.rl_crc32c(crc, buf, len(buf))


def scan_batches(
    buf: bytes | bytearray | memoryview, *, strict: bool = True, max_batches: int | None = None
) -> ScanResult:
    """Validate the record batches concatenated in ``buf`` and report their headers.

    Stops at the first invalid batch (``error`` says where and why), at the end
    of the buffer, or after ``max_batches`` batches.  ``strict`` (producer input)
    requires recordCount == lastOffsetDelta + 1 >= 1; otherwise (data read back
    from a log, where compaction removes records) 0 <= recordCount <= lastOffsetDelta + 1.
    """
    view = _bytes_arg(buf)
    end = len(view)
    limit = end // HEADER_SIZE + 1  # more batches than that cannot fit
    if max_batches is not None:
        limit = min(limit, check_int("max_batches", max_batches, 0, 2**62))
    batches: list[BatchInfo] = []
    if limit == 0 or end == 0:
        return ScanResult(batches, 0, None)
    state = _new("rl_scan_state *")
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = _new_raw("rl_batch_info[]", _SCAN_CHUNK)
    strict_flag = 1 if strict else 0
    pos = 0
    while True:
        cap = min(limit - len(batches), _SCAN_CHUNK)
        count = lib.rl_scan_batches(view, end, pos, strict_flag, slots, cap, state)
        if count:
            # One C-level tuple per batch: no Python frame runs per batch.
            rows = _INFO_STRUCT.iter_unpack(_buffer(slots, count * _INFO_STRUCT.size))
            batches.extend(map(_tuple_new, repeat(BatchInfo, count), rows))
        pos = state.next
        if state.reason:
            error = ScanError(state.error_pos, len(batches), REASONS[state.reason - 1])
            return ScanResult(batches, pos, error)
        if pos >= end or len(batches) >= limit:
            return ScanResult(batches, pos, None)


_ASSIGN_ERRORS = {
    lib.RL_ASSIGN_TRUNCATED: "truncated batch",
    lib.RL_ASSIGN_BAD_LENGTH: "bad batch length",
    lib.RL_ASSIGN_BAD_DELTA: "negative lastOffsetDelta",
    lib.RL_ASSIGN_OVERFLOW: "offsets overflow a signed 64-bit integer",
}


def assign_offsets(buf: bytearray | memoryview, first_offset: int, leader_epoch: int) -> int:
    """Patch baseOffset and partitionLeaderEpoch of every batch in ``buf``; return the next offset.

    Batches get consecutive offsets: the next batch starts at
    baseOffset + lastOffsetDelta + 1.  The buffer must hold whole batches
    (validated by ``scan_batches``); otherwise NativeError and nothing is written.
    """
    view = _writable_bytes_arg(buf)
    check_int("first_offset", first_offset, 0, INT64_MAX)
    check_int("leader_epoch", leader_epoch, -(2**31), INT32_MAX)
    out = _new("int64_t[2]")
    code = lib.rl_assign_offsets(view, len(view), first_offset, leader_epoch, out, out + 1)
    if code:
        raise NativeError(f"{_ASSIGN_ERRORS[code]} at byte {out[1]}")
    return out[0]


def offset_index_lookup(
    buf: bytes | bytearray | memoryview, n_entries: int, target_relative_offset: int
) -> int:
    """Slot of the last offset-index entry with relative offset <= target; -1 if none.

    Entries are 8 bytes, big-endian: relative offset u32, file position u32.
    """
    view = _bytes_arg(buf)
    if (
        type(n_entries) is not int
        or type(target_relative_offset) is not int
        or not 0 <= n_entries <= len(view) >> 3
        or not INT64_MIN <= target_relative_offset <= INT64_MAX
    ):  # one cheap test on the hot path; the precise error from check_int
        check_int("n_entries", n_entries, 0, len(view) // 8)
        check_int("target_relative_offset", target_relative_offset, INT64_MIN, INT64_MAX)
    return lib.rl_offset_index_lookup(view, n_entries, target_relative_offset)


def time_index_lookup(
    buf: bytes | bytearray | memoryview, n_entries: int, target_timestamp: int
) -> int:
    """Slot of the last time-index entry with timestamp <= target; -1 if none.

    Entries are 12 bytes, big-endian: timestamp i64, relative offset u32.
    """
    view = _bytes_arg(buf)
    if (
        type(n_entries) is not int
        or type(target_timestamp) is not int
        or not 0 <= n_entries <= len(view) // 12
        or not INT64_MIN <= target_timestamp <= INT64_MAX
    ):
        check_int("n_entries", n_entries, 0, len(view) // 12)
        check_int("target_timestamp", target_timestamp, INT64_MIN, INT64_MAX)
    return lib.rl_time_index_lookup(view, n_entries, target_timestamp)


_SCRATCH_KEEP = 8 * 1024 * 1024  # larger outputs get a buffer of their own
# Records per C call: the temporary blobs of a chunk stay small enough for
# malloc to recycle them from call to call.
_ENCODE_CHUNK = 1024


def _scratch(size: int) -> object:
    """A per-thread output buffer reused across calls.

    A fresh buffer per call would make malloc hand pages back to the kernel and
    fault them in again on the next call, which costs more than the encoding.
    """
    buf = getattr(_local, "buf", None)
    if buf is not None and len(buf) >= size:
        return buf
    buf = _new_raw("uint8_t[]", max(size, 256 * 1024))
    if size <= _SCRATCH_KEEP:
        _local.buf = buf
    return buf


def _grow(buf: object, used: int, size: int) -> object:
    """A larger scratch buffer holding the first ``used`` bytes of ``buf``."""
    bigger = _scratch(max(size, 2 * len(buf)))
    ffi.memmove(bigger, buf, used)
    return bigger


def _column(name: str, items: Sequence) -> tuple[bytes, bytes | array]:
    """One blob of all non-null items plus an int32 length per item (-1 for None).

    Built with C-level builtins only; no Python code runs per item.  A length
    that disagrees with the blob (a memoryview of wider items) is caught in C,
    and the caller then retries through ``_normalised``.
    """
    try:
        try:
            # struct converts ints to int32 several times faster than array("i") does
            return b"".join(items), _struct_pack(f"={len(items)}i", *map(len, items))
        except TypeError:
            pass  # None among the items (or a wrong type, reported below)
        except struct.error:
            raise OverflowError from None
        try:
            blob = b"".join(filter(_is_not_none, items))
        except TypeError as exc:
            raise TypeError(f"{name} must be bytes-like or None: {exc}") from None
        lengths = array("i", map(length_hint, items, repeat(-1)))
    except OverflowError:
        raise ValueError(f"a {name} item is longer than 2**31 - 1 bytes") from None
    if lengths.count(-1) != items.count(None):
        # a bytes-like object without len(): the per-item path decides
        return _column(name, _normalised(name, items))
    return blob, lengths


def _normalised(name: str, items: Sequence) -> list[bytes | None]:
    """Every item as bytes (or None): the rare path for exotic buffers."""
    from native.twins import _optional_bytes

    return [_optional_bytes(name, item) for item in items]


def _as_list(items: Sequence) -> list | tuple:
    return items if type(items) is list or type(items) is tuple else list(items)


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
    columns = _columns(values, keys, headers)
    n = len(columns["values"])
    deltas = _deltas_arg(timestamp_deltas, n)
    check_int("offset_delta_start", offset_delta_start, 0, INT32_MAX)
    if n == 0:
        return b""
    if offset_delta_start + n - 1 > INT32_MAX:
        raise ValueError("offset deltas overflow a signed 32-bit integer")

    out, written = _encode_all(columns, deltas, offset_delta_start, _scratch(0), 0)
    return _buffer(out, written)[:]


def encode_batch(
    header: bytes,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    timestamp_deltas: Sequence[int] | None = None,
    headers: Sequence[bytes | None] | None = None,
    *,
    into: bytearray | None = None,
) -> bytes | memoryview:
    """A whole uncompressed record batch v2: ``header`` then the records as
    ``encode_records`` encodes them (offset deltas from 0), with the header's
    batchLength and CRC fields computed for the result.

    ``header`` is a packed 61-byte batch header whose batchLength and CRC are
    ignored.  Without ``into`` the batch is assembled in a reused buffer and
    copied out once as bytes.  With ``into`` it is written straight into that
    bytearray, which is never resized, and a memoryview of the batch is returned;
    when the batch does not fit, the view is of a new bytearray instead (its
    ``obj``), so the caller can keep whichever holds the batch for reuse.  The
    encoder reserves the widest encoding for up to 1024 records at a time, so
    ``into`` needs up to 32 KiB more than the batch takes.
    """
    if len(header) != HEADER_SIZE:
        raise ValueError(f"a batch header is {HEADER_SIZE} bytes, got {len(header)}")
    columns = _columns(values, keys, headers)
    n = len(columns["values"])
    if n == 0:
        raise ValueError("a record batch needs at least one record")
    deltas = _deltas_arg(timestamp_deltas, n)
    if into is None:
        target = _scratch(0)
    elif type(into) is not bytearray:
        raise TypeError(f"into must be a bytearray, got {type(into).__name__}")
    elif len(into) < HEADER_SIZE:
        into = None
        target = _scratch(0)
    else:
        target = _from_buffer("uint8_t[]", into)
    ffi.memmove(target, _bytes_arg(header), HEADER_SIZE)
    out, written = _encode_all(columns, deltas, 0, target, HEADER_SIZE)
    if written - LOG_OVERHEAD > INT32_MAX:
        raise ValueError("a record batch longer than 2**31 - 1 bytes")
    view = _buffer(out, written)
    _LENGTH.pack_into(view, LENGTH_OFFSET, written - LOG_OVERHEAD)
    _CRC.pack_into(view, CRC_OFFSET, lib.rl_crc32c(0, out + CRC_START, written - CRC_START))
    if into is None:
        return view[:]
    if out is not target:  # outgrew ``into``: the batch ended up in the scratch buffer
        into = bytearray(view)
    return memoryview(into)[:written]


def _encode_all(
    columns: dict[str, Sequence], deltas: object, offset_delta_start: int, out: object,
    written: int,
) -> tuple[object, int]:
    """Encode every record of ``columns`` after the ``written`` bytes of ``out``, a chunk of
    records per C call; returns (out, written)."""
    n = len(columns["values"])
    for lo in range(0, n, _ENCODE_CHUNK):
        hi = min(lo + _ENCODE_CHUNK, n)
        chunk = columns if hi - lo == n else {name: seq[lo:hi] for name, seq in columns.items()}
        out, written = _encode_chunk(
            chunk,
            deltas if deltas == ffi.NULL else deltas + lo,
            offset_delta_start + lo,
            out,
            written,
        )
    return out, written


def _columns(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None,
    headers: Sequence[bytes | None] | None,
) -> dict[str, list | tuple]:
    """The given columns by name, as lists, checked to be as long as ``values``."""
    values = _as_list(values)
    n = len(values)
    columns = {"values": values}
    for name, seq in (("keys", keys), ("headers", headers)):
        if seq is not None:
            seq = _as_list(seq)
            if len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} items, values has {n}")
            columns[name] = seq
    return columns


def _deltas_arg(timestamp_deltas: Sequence[int] | None, n: int) -> object:
    """The timestamp deltas as a C int64 array (NULL for none), checked against ``n``."""
    if timestamp_deltas is None:
        return ffi.NULL
    try:
        deltas = array("q", timestamp_deltas)
    except OverflowError:
        raise ValueError("a timestamp delta is out of the signed 64-bit range") from None
    except TypeError as exc:
        raise TypeError(f"timestamp deltas must be ints: {exc}") from None
    if len(deltas) != n:
        raise ValueError(f"timestamp_deltas has {len(deltas)} items, values has {n}")
    return _from_buffer("int64_t[]", deltas)


def _encode_chunk(
    columns: dict[str, Sequence], deltas: object, offset_delta: int, out: object, written: int
) -> tuple[object, int]:
    """Encode one chunk of records after the ``written`` bytes of ``out``; returns (out, written)."""
    n = len(columns["values"])
    for attempt in range(2):
        blobs = {name: _column(name, seq) for name, seq in columns.items()}
        vblob, vlens = blobs["values"]
        kblob, klens = blobs.get("keys", (b"", None))
        hblob, hlens = blobs.get("headers", (b"", None))
        bound = 32 * n + len(vblob) + len(kblob) + len(hblob)  # 32 = every varint at its widest
        if written + bound > len(out):
            out = _grow(out, written, written + bound)
        code = lib.rl_encode_records(
            out + written,
            bound,
            n,
            vblob,
            len(vblob),
            _from_buffer("int32_t[]", vlens),
            kblob,
            len(kblob),
            ffi.NULL if klens is None else _from_buffer("int32_t[]", klens),
            deltas,
            hblob,
            len(hblob),
            ffi.NULL if hlens is None else _from_buffer("int32_t[]", hlens),
            offset_delta,
        )
        if code >= 0:
            return out, written + code
        if code == lib.RL_ENCODE_BAD_LENGTHS and attempt == 0:
            columns = {name: _normalised(name, seq) for name, seq in columns.items()}
            continue
        break
    if code == lib.RL_ENCODE_TOO_LONG:
        raise NativeError("record longer than 2**31 - 1 bytes")
    raise NativeError(f"record encoder failed (code {code})")


_DECODE_COLUMNS = 7  # offset delta, timestamp delta, key start/length, value start/length, headers
_DECODE_KEEP = 1 << 20  # scratch slots kept per thread between calls; larger ones are freed


def _scratch_of(name: str, ctype: str, size: int) -> object:
    """A per-thread C array of at least ``size`` items, reused from call to call."""
    slots = getattr(_local, name, None)
    if slots is not None and len(slots) >= size:
        return slots
    slots = _new_raw(ctype, max(size, 4096))
    if size <= _DECODE_KEEP:
        setattr(_local, name, slots)
    return slots


def _int64_array(slots: object, count: int) -> array:
    column = array("q")
    column.frombytes(_buffer(slots, 8 * count))
    return column


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
    view = _bytes_arg(buf)
    size = len(view)
    if type(count) is not int or not 0 <= count <= INT64_MAX:
        check_int("count", count, 0, INT64_MAX)
    if type(base_offset) is not int or not INT64_MIN <= base_offset <= INT64_MAX:
        check_int("base_offset", base_offset, INT64_MIN, INT64_MAX)
    if type(base_timestamp) is not int or not INT64_MIN <= base_timestamp <= INT64_MAX:
        check_int("base_timestamp", base_timestamp, INT64_MIN, INT64_MAX)
    # A record takes MIN_RECORD_SIZE bytes at least, so decoding fails before
    # it needs more slots than that, however large a count the batch claims.
    stride = min(count, size // MIN_RECORD_SIZE + 1)
    columns = _scratch_of("columns", "int64_t[]", _DECODE_COLUMNS * stride)
    headers = _scratch_of("headers", "int64_t[]", 0)
    state = getattr(_local, "decode_state", None)
    if state is None:
        state = _local.decode_state = _new("rl_decode_state *")
    args = (view, size, count, base_offset, base_timestamp, columns, stride)
    code = lib.rl_decode_records(*args, headers, len(headers) >> 2, state)
    if code == lib.RL_DECODE_NO_ROOM:  # more headers than the scratch array holds
        headers = _scratch_of("headers", "int64_t[]", 4 * state.headers)
        code = lib.rl_decode_records(*args, headers, len(headers) >> 2, state)
    if code:
        raise RecordDecodeError(state.record, state.error_pos, DECODE_REASONS[code - 1])
    return _tuple_new(
        DecodedRecords,
        (
            *[_int64_array(columns + c * count, count) for c in range(_DECODE_COLUMNS)],
            _int64_array(headers, 4 * state.headers),
        ),
    )


def _int64_arg(name: str, items: object) -> object:
    """A cffi view of an int64 array (no copy), or of a copy of a sequence of ints."""
    if type(items) is array and items.typecode == "q":
        return _from_buffer("int64_t[]", items)
    try:
        return _from_buffer("int64_t[]", array("q", items))  # type: ignore[arg-type]
    except TypeError as exc:
        raise TypeError(f"{name} must be a sequence of ints: {exc}") from None
    except OverflowError:
        raise ValueError(f"{name} holds an int outside the signed 64-bit range") from None


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
    columns = [
        _int64_arg(name, items)
        for name, items in (
            ("a_starts", a_starts), ("a_lengths", a_lengths),
            ("b_starts", b_starts), ("b_lengths", b_lengths),
        )
    ]
    n = len(columns[0])
    if any(len(column) != n for column in columns):
        raise ValueError("slices_format needs four columns of the same length")
    cap = 1 + 84 * n
    out = _scratch_of("format", "char[]", cap)
    written = lib.rl_slices_format(*columns, n, out, len(out))
    if written < 0:
        raise NativeError("slices are not in ascending, non-overlapping order")
    return _buffer(out, written)[:]
