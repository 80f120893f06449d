"""Request headers (v0–v2) and response headers (v0–v1).

Request header: api_key int16, api_version int16, correlation_id int32, then from v1 the
client id as an int16-length nullable string — still int16-length in v2 — and in v2 a tag
section. Response header: correlation_id int32, and in v1 a tag section. Which version a
message uses is decided in ``client.protocol.versions``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from client.protocol import primitives as p
from client.protocol.errors import RemoteProtocolError

_PREFIX = p.INT16.size * 2 + p.INT32.size
_read_client_id = p.string_reader(compact=False, nullable=True)
_write_client_id = p.string_writer(compact=False, nullable=True)
_FIXED = struct.Struct(">hhi")


class RequestHeader(NamedTuple):
    """What precedes every request body."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def encode_request_header(out: bytearray, header: RequestHeader, version: int) -> None:
    """Append a request header of the given version (0, 1 or 2)."""
    out += _FIXED.pack(header.api_key, header.api_version, header.correlation_id)
    if version >= 1:
        _write_client_id(out, header.client_id)
    if version >= 2:
        out += b"\x00"


def peek_request_prefix(buf: memoryview) -> tuple[int, int, int]:
    """api_key, api_version and correlation_id, the part common to every header version."""
    if len(buf) < _PREFIX:
        raise RemoteProtocolError(f"request of {len(buf)} bytes is shorter than a header")
    return _FIXED.unpack_from(buf, 0)  # type: ignore[return-value]


def decode_request_header(buf: memoryview, version: int) -> tuple[RequestHeader, int]:
    """Read a request header of the given version from the start of ``buf``."""
    api_key, api_version, correlation_id = peek_request_prefix(buf)
    pos = _PREFIX
    client_id = None
    if version >= 1:
        client_id, pos = _read_client_id(buf, pos)
    if version >= 2:
        pos = skip_tag_section(buf, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def encode_response_header(out: bytearray, correlation_id: int, version: int) -> None:
    """Append a response header of the given version (0 or 1)."""
    out += p.INT32.pack(correlation_id)
    if version >= 1:
        out += b"\x00"


def decode_response_header(buf: memoryview, version: int) -> tuple[int, int]:
    """Read a response header; returns (correlation_id, position after it)."""
    correlation_id, pos = p.read_int32(buf, 0)
    if version >= 1:
        pos = skip_tag_section(buf, pos)
    return correlation_id, pos


def skip_tag_section(buf: memoryview, pos: int) -> int:
    """Skip a tag section none of whose tags we know, checking its shape."""
    count, pos = p.read_uvarint(buf, pos)
    if count > len(buf) - pos:
        raise RemoteProtocolError(f"tag section declares {count} fields, too many for the frame")
    last = -1
    for _ in range(count):
        tag, pos = p.read_uvarint(buf, pos)
        if tag <= last:
            raise RemoteProtocolError(f"tagged field {tag} repeated or out of order")
        last = tag
        size, pos = p.read_uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise RemoteProtocolError(f"tagged field {tag} runs past the end of the frame")
    return pos
