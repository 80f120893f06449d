"""Python side of the compiled functions: argument checks, then one C call each.

Imported by ``native/__init__.py`` only when ``native._rillet`` loaded.
"""

from __future__ import annotations

from native._rillet import ffi, lib  # type: ignore[import-not-found]

HARDWARE_CRC = bool(lib.rl_crc32c_hw())

_from_buffer = ffi.from_buffer


def _bytes_arg(data: object) -> object:
    """A cffi view of ``data``'s bytes (no copy); TypeError/ValueError as the twins raise."""
    if isinstance(data, str):
        raise TypeError("expected a bytes-like object, got str")
    try:
        return _from_buffer("uint8_t[]", data)
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(data).__name__}") from None
    except BufferError:
        raise ValueError("buffer must be C-contiguous") from None


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc``; unsigned."""
    if type(crc) is not int:
        if not isinstance(crc, int):
            raise TypeError(f"crc must be an int, got {type(crc).__name__}")
    if not 0 <= crc <= 0xFFFFFFFF:
        raise ValueError(f"crc={crc} out of range [0, 4294967295]")
    buf = _bytes_arg(data)
    return lib.rl_crc32c(crc, buf, len(buf))
