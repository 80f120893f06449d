"""Rillet's native core: CRC-32C, batch scanning, offset assignment, index search, record codec.

The C sources in ``native/src`` are compiled at install time through cffi
(API mode, see ``native/ffi_build.py``) into ``native._rillet``.  Each public
function here checks types and lengths in Python, then makes one C call; a C
error code becomes one exception (``NativeError``, a ValueError).  When the
extension is missing, the pure-Python twins in ``native.twins`` stand in
(``COMPILED`` is then False and ``require_compiled()`` raises).
"""

from __future__ import annotations

from native import twins
from native.results import (
    BatchInfo,
    DecodedRecords,
    NativeError,
    RecordDecodeError,
    ScanError,
    ScanResult,
)

try:
    from native import _rillet  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _rillet = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = [
    "COMPILED",
    "HARDWARE_CRC",
    "BatchInfo",
    "DecodedRecords",
    "NativeError",
    "RecordDecodeError",
    "ScanError",
    "ScanResult",
    "assign_offsets",
    "crc32c",
    "decode_records",
    "encode_batch",
    "encode_records",
    "offset_index_lookup",
    "require_compiled",
    "scan_batches",
    "slices_format",
    "time_index_lookup",
    "twins",
]

COMPILED = _rillet is not None


def require_compiled() -> None:
    """Raise ImportError, saying why, unless the compiled extension loaded."""
    if _rillet is None:
        raise ImportError(
            "the native core (native._rillet) is not built: run `pip install -e .` "
            f"with a C compiler available ({_IMPORT_ERROR})"
        )


crc32c = twins.crc32c
scan_batches = twins.scan_batches
assign_offsets = twins.assign_offsets
offset_index_lookup = twins.offset_index_lookup
time_index_lookup = twins.time_index_lookup
encode_records = twins.encode_records
encode_batch = twins.encode_batch
decode_records = twins.decode_records
slices_format = twins.slices_format
HARDWARE_CRC = False

if _rillet is not None:
    from native import compiled as _compiled

    HARDWARE_CRC = _compiled.HARDWARE_CRC
    crc32c = getattr(_compiled, "crc32c", crc32c)
    scan_batches = getattr(_compiled, "scan_batches", scan_batches)
    assign_offsets = getattr(_compiled, "assign_offsets", assign_offsets)
    offset_index_lookup = getattr(_compiled, "offset_index_lookup", offset_index_lookup)
    time_index_lookup = getattr(_compiled, "time_index_lookup", time_index_lookup)
    encode_records = getattr(_compiled, "encode_records", encode_records)
    encode_batch = getattr(_compiled, "encode_batch", encode_batch)
    decode_records = getattr(_compiled, "decode_records", decode_records)
    slices_format = getattr(_compiled, "slices_format", slices_format)
