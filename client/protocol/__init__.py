"""Sans-I/O Kafka wire codec: frames, headers and message bodies, no sockets.

Bodies are plain dicts keyed by the snake_case of Kafka's field names. One declarative schema
per API (``client.protocol.messages``) drives both directions. Every failure raises a
:class:`ProtocolError`.
"""

from __future__ import annotations

from client.protocol.api_keys import ApiKey
from client.protocol.codec import (
    api_versions_error_response,
    decode_request,
    decode_response,
    encode_request,
    encode_request_chunks,
    encode_response,
    encode_response_chunks,
)
from client.protocol.error_codes import ErrorCode
from client.protocol.errors import (
    FrameTooLargeError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UnsupportedVersionError,
)
from client.protocol.frames import FrameDecoder
from client.protocol.headers import RequestHeader
from client.protocol.versions import SUPPORTED_VERSIONS

__all__ = [
    "ApiKey",
    "ErrorCode",
    "SUPPORTED_VERSIONS",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "UnsupportedVersionError",
    "FrameTooLargeError",
    "RequestHeader",
    "FrameDecoder",
    "decode_request",
    "encode_request",
    "encode_request_chunks",
    "decode_response",
    "encode_response",
    "encode_response_chunks",
    "api_versions_error_response",
]
