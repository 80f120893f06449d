"""Requests and responses, whole: header plus body, size prefix on the way out.

Each (api, version, direction) is compiled once, on first use, into an encoder and a decoder
(see ``client.protocol.compiler``). Decoders raise only ProtocolError subclasses whatever the
input; encoders raise LocalProtocolError when a body cannot be represented.
"""

from __future__ import annotations

import struct

from client.protocol import headers as h
from client.protocol.api_keys import ApiKey
from client.protocol.compiler import (
    ChunkedOut,
    Decoder,
    Encoder,
    compile_decoder,
    compile_encoder,
    value_size,
)
from client.protocol.error_codes import ErrorCode
from client.protocol.errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UnsupportedVersionError,
)
from client.protocol.headers import RequestHeader
from client.protocol.messages import SCHEMAS
from client.protocol.versions import (
    SUPPORTED_VERSIONS,
    is_flexible,
    is_supported,
    request_header_version,
    response_header_version,
)

_SIZE = struct.Struct(">i")
_SIZE_PLACEHOLDER = b"\x00\x00\x00\x00"

# Failures of the primitives on hostile input; all become RemoteProtocolError.
_DECODE_FAILURES = (struct.error, IndexError, ValueError, OverflowError)
# Failures on a body our caller built badly; all become LocalProtocolError.
_ENCODE_FAILURES = (struct.error, TypeError, ValueError, AttributeError, OverflowError)

_codecs: dict[tuple[int, int, bool], tuple[Encoder, Decoder]] = {}


def _codec(api_key: int, api_version: int, request: bool) -> tuple[Encoder, Decoder]:
    key = (api_key, api_version, request)
    found = _codecs.get(key)
    if found is None:
        if not is_supported(api_key, api_version):
            raise LocalProtocolError(f"api {api_key} v{api_version} is not implemented")
        schema = SCHEMAS[ApiKey(api_key)]
        st = schema.request if request else schema.response
        flexible = is_flexible(api_key, api_version)
        found = (
            compile_encoder(st, api_version, flexible),
            compile_decoder(st, api_version, flexible),
        )
        _codecs[key] = found
    return found


def _decode_body(
    decode: Decoder, buf: memoryview, pos: int, what: str, allow_trailing: bool = False
) -> dict:
    try:
        body, pos = decode(buf, pos)
    except ProtocolError:
        raise
    except _DECODE_FAILURES as exc:
        raise RemoteProtocolError(f"malformed {what}: {exc}") from exc
    if pos != len(buf) and not allow_trailing:
        raise RemoteProtocolError(f"{len(buf) - pos} unexpected bytes after the {what}")
    return body


def _as_view(frame: bytes | bytearray | memoryview) -> memoryview:
    view = frame if isinstance(frame, memoryview) else memoryview(frame)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def decode_request(frame: bytes | bytearray | memoryview) -> tuple[RequestHeader, dict]:
    """Decode one request frame (size prefix excluded) into its header and body.

    Raises UnsupportedVersionError (with the header, body undecoded) for an API key or
    version the codec does not implement, and RemoteProtocolError for malformed bytes.
    ``records`` values in the body are memoryviews into ``frame``.
    """
    buf = _as_view(frame)
    api_key, api_version, _ = h.peek_request_prefix(buf)
    if not is_supported(api_key, api_version):
        try:
            header, _ = h.decode_request_header(buf, 1)
        except _DECODE_FAILURES as exc:
            raise RemoteProtocolError(f"malformed request header: {exc}") from exc
        raise UnsupportedVersionError(
            f"api {api_key} v{api_version} is not supported", header
        )
    try:
        header, pos = h.decode_request_header(buf, request_header_version(api_key, api_version))
    except _DECODE_FAILURES as exc:
        raise RemoteProtocolError(f"malformed request header: {exc}") from exc
    _, decode = _codec(api_key, api_version, True)
    # Bytes after a whole request body are ignored, as Kafka's own broker does:
    # librdkafka 2.16 sends Metadata v12 requests with three such bytes.
    return header, _decode_body(
        decode, buf, pos, f"api {api_key} v{api_version} request", allow_trailing=True
    )


def _encode_request_into(
    out: bytearray,
    api_key: int,
    api_version: int,
    correlation_id: int,
    client_id: str | None,
    body: dict,
) -> None:
    encode, _ = _codec(api_key, api_version, True)
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    try:
        h.encode_request_header(out, header, request_header_version(api_key, api_version))
        encode(out, body)
    except ProtocolError:
        raise
    except _ENCODE_FAILURES as exc:
        raise LocalProtocolError(
            f"cannot encode api {api_key} v{api_version} request: {exc}"
        ) from exc


def encode_request(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None, body: dict
) -> bytes:
    """Encode a request, header and size prefix included."""
    out = bytearray(_SIZE_PLACEHOLDER)
    _encode_request_into(out, api_key, api_version, correlation_id, client_id, body)
    _SIZE.pack_into(out, 0, len(out) - 4)
    return bytes(out)


def encode_request_chunks(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None, body: dict
) -> list[bytes | memoryview]:
    """As encode_request, as a list of buffers for a vectored write: large ``records``
    values are their own entries, the very objects from ``body``, not copies."""
    out = ChunkedOut()
    out += _SIZE_PLACEHOLDER
    _encode_request_into(out, api_key, api_version, correlation_id, client_id, body)
    _SIZE.pack_into(out, 0, len(out) - 4 + sum(value_size(v) for _, v in out.splits))
    return out.chunks()


def decode_response(
    api_key: int, api_version: int, frame: bytes | bytearray | memoryview
) -> tuple[int, dict]:
    """Decode one response frame (size prefix excluded); returns (correlation_id, body)."""
    buf = _as_view(frame)
    _, decode = _codec(api_key, api_version, False)
    try:
        correlation_id, pos = h.decode_response_header(
            buf, response_header_version(api_key, api_version)
        )
    except _DECODE_FAILURES as exc:
        raise RemoteProtocolError(f"malformed response header: {exc}") from exc
    return correlation_id, _decode_body(
        decode, buf, pos, f"api {api_key} v{api_version} response"
    )


def _encode_response_into(out: bytearray, header: RequestHeader, body: dict) -> None:
    api_key, api_version = header.api_key, header.api_version
    encode, _ = _codec(api_key, api_version, False)
    try:
        h.encode_response_header(
            out, header.correlation_id, response_header_version(api_key, api_version)
        )
        encode(out, body)
    except ProtocolError:
        raise
    except _ENCODE_FAILURES as exc:
        raise LocalProtocolError(
            f"cannot encode api {api_key} v{api_version} response: {exc}"
        ) from exc


def encode_response(header: RequestHeader, body: dict) -> bytes:
    """Encode the response to the request with this header, size prefix included."""
    out = bytearray(_SIZE_PLACEHOLDER)
    _encode_response_into(out, header, body)
    _SIZE.pack_into(out, 0, len(out) - 4)
    return bytes(out)


def encode_response_chunks(header: RequestHeader, body: dict) -> list[bytes | memoryview]:
    """As encode_response, as a list of buffers for a vectored write: large ``records``
    values are their own entries, the very objects from ``body``, not copies."""
    out = ChunkedOut()
    out += _SIZE_PLACEHOLDER
    _encode_response_into(out, header, body)
    total = len(out) - 4 + sum(value_size(v) for _, v in out.splits)
    _SIZE.pack_into(out, 0, total)
    return out.chunks()


def api_versions_error_response(correlation_id: int) -> bytes:
    """The reply to an ApiVersions request of a version we do not speak: response header v0
    and a v0 body — UNSUPPORTED_VERSION plus our ApiVersions range — which every client
    can parse whatever version it tried."""
    low, high = SUPPORTED_VERSIONS[ApiKey.API_VERSIONS]
    body = {
        "error_code": ErrorCode.UNSUPPORTED_VERSION,
        "api_keys": [{"api_key": ApiKey.API_VERSIONS, "min_version": low, "max_version": high}],
    }
    return encode_response(RequestHeader(ApiKey.API_VERSIONS, 0, correlation_id, None), body)
