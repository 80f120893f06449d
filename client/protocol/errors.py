"""The codec's one exception family.

Every failure of the codec is a :class:`ProtocolError`. Like an HTTP/1.1 codec splits "we
produced something invalid" from "the peer sent something invalid", two subclasses say who
is at fault: :class:`LocalProtocolError` when our own caller asked to encode a body that the
schema cannot carry, :class:`RemoteProtocolError` when bytes from the wire are malformed.
Each error carries the Kafka error code a handler should answer with, if it answers at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from client.protocol.error_codes import ErrorCode

if TYPE_CHECKING:
    from client.protocol.headers import RequestHeader


class ProtocolError(Exception):
    """Base of every error the codec raises; ``error_code`` is the matching Kafka code."""

    error_code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, error_code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class LocalProtocolError(ProtocolError):
    """Our caller asked to encode something the schema cannot represent (a bug on our side)."""

    error_code = ErrorCode.UNKNOWN_SERVER_ERROR


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that do not decode: truncated, oversized, or malformed."""

    error_code = ErrorCode.CORRUPT_MESSAGE


class UnsupportedVersionError(RemoteProtocolError):
    """The request names an API key or version this codec does not implement.

    ``header`` is what could be read of the request header (api key, version, correlation id,
    client id); the body was not decoded. A broker answers with UNSUPPORTED_VERSION (35), for
    ApiVersions with the v0 body from ``api_versions_error_response``.
    """

    error_code = ErrorCode.UNSUPPORTED_VERSION

    def __init__(self, message: str, header: RequestHeader) -> None:
        super().__init__(message)
        self.header = header


class FrameTooLargeError(RemoteProtocolError):
    """A frame declares a size above the configured limit, or a negative one."""

    error_code = ErrorCode.MESSAGE_TOO_LARGE

    def __init__(self, message: str, declared_size: int) -> None:
        super().__init__(message)
        self.declared_size = declared_size
