"""The Kafka dispatcher: frames to requests with the codec, requests to registered handlers.

Handlers are `async def handle(ctx, header, body) -> dict | None`, registered per API key on a
`HandlerRegistry`; None means "send no response" (acks=0 produce). The registry is also what
ApiVersions advertises: only APIs with a handler, at the versions in SUPPORTED_VERSIONS, so an
API is never advertised before it is implemented.

Failures:
  * a frame the codec cannot decode closes the connection (one log line, in the loop);
  * an unsupported version is answered with UNSUPPORTED_VERSION: ApiVersions with the special
    v0 reply, other APIs with an error body when the codec can encode one, else the
    connection closes;
  * a handler exception is logged with its traceback and answered with UNKNOWN_SERVER_ERROR
    where the API has an error field (see `broker.server.errors`), else the connection closes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import trio

from broker.metrics import ServerMetrics
from broker.server.context import RequestContext
from broker.server.dispatch import Buffer
from broker.server.errors import error_response_body
from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    ProtocolError,
    RequestHeader,
    UnsupportedVersionError,
    api_versions_error_response,
    decode_request,
    encode_response_chunks,
)

log = logging.getLogger("rillet.server")

Body = dict[str, Any]
Handler = Callable[[RequestContext, RequestHeader, Body], Awaitable[Body | None]]


class HandlerError(Exception):
    """A request failed in a way that cannot be answered; the connection closes."""


def api_name(api_key: int) -> str:
    """Kafka's name for an API key, or the number for an unknown one."""
    try:
        return ApiKey(api_key).name
    except ValueError:
        return str(api_key)


class HandlerRegistry:
    """Handlers by API key; what the broker implements and therefore advertises."""

    def __init__(self) -> None:
        self._handlers: dict[int, Handler] = {}

    def register(self, api_key: ApiKey, handler: Handler, *, replace: bool = False) -> None:
        """Route `api_key` to `handler`. The key must have a SUPPORTED_VERSIONS entry."""
        if api_key not in SUPPORTED_VERSIONS:
            raise ValueError(f"{api_name(api_key)} has no entry in SUPPORTED_VERSIONS")
        if api_key in self._handlers and not replace:
            raise ValueError(f"{api_name(api_key)} already has a handler")
        self._handlers[api_key] = handler

    def handler(self, api_key: ApiKey) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(fn: Handler) -> Handler:
            self.register(api_key, fn)
            return fn

        return decorate

    def get(self, api_key: int) -> Handler | None:
        """The handler for `api_key`, if any."""
        return self._handlers.get(api_key)

    def advertised(self) -> dict[ApiKey, tuple[int, int]]:
        """(min, max) version of every API with a handler, by key."""
        return {ApiKey(k): SUPPORTED_VERSIONS[ApiKey(k)] for k in sorted(self._handlers)}


def api_versions_handler(registry: HandlerRegistry) -> Handler:
    """An ApiVersions handler advertising exactly the registry's APIs."""

    async def handle(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
        return {
            "error_code": ErrorCode.NONE,
            "api_keys": [
                {"api_key": key, "min_version": low, "max_version": high}
                for key, (low, high) in registry.advertised().items()
            ],
            "throttle_time_ms": 0,
        }

    return handle


def default_registry() -> HandlerRegistry:
    """A registry holding only the built-in ApiVersions handler."""
    registry = HandlerRegistry()
    registry.register(ApiKey.API_VERSIONS, api_versions_handler(registry))
    return registry


class KafkaRequest(NamedTuple):
    """A decoded request; `unsupported` when only the header could be read."""

    header: RequestHeader
    body: dict[str, Any]
    unsupported: bool = False


class KafkaDispatcher:
    """The Dispatcher for the Kafka protocol over a HandlerRegistry."""

    def __init__(self, registry: HandlerRegistry, metrics: ServerMetrics | None = None) -> None:
        self.registry = registry
        self._metrics = metrics

    def decode(self, frame: memoryview) -> KafkaRequest:
        """Decode header and body; an unsupported version still yields its header."""
        try:
            header, body = decode_request(frame)
        except UnsupportedVersionError as exc:
            return KafkaRequest(exc.header, {}, unsupported=True)
        return KafkaRequest(header, body)

    async def handle(self, ctx: RequestContext, request: KafkaRequest) -> Sequence[Buffer] | None:
        """Run the request's handler and encode its answer (or an error answer)."""
        header = request.header
        name = api_name(header.api_key)
        try:
            handler = self.registry.get(header.api_key)
            if request.unsupported or handler is None:
                return self._error_response(request, ErrorCode.UNSUPPORTED_VERSION, None)
            try:
                body = await handler(ctx, header, request.body)
                if body is None:
                    return None
                return encode_response_chunks(header, body)
            except Exception as exc:
                if self._metrics is not None:
                    self._metrics.request_failed(name)
                log.exception(
                    "%s v%d (correlation id %d) from %s failed",
                    name, header.api_version, header.correlation_id, ctx.connection.peer,
                )
                return self._error_response(request, ErrorCode.UNKNOWN_SERVER_ERROR, exc)
        finally:
            if self._metrics is not None:
                self._metrics.request_done(name, trio.current_time() - ctx.received_at)

    def _error_response(
        self, request: KafkaRequest, code: ErrorCode, cause: Exception | None
    ) -> Sequence[Buffer]:
        header = request.header
        what = f"{api_name(header.api_key)} v{header.api_version}"
        if header.api_key == ApiKey.API_VERSIONS and code == ErrorCode.UNSUPPORTED_VERSION:
            return [api_versions_error_response(header.correlation_id)]
        body = error_response_body(header.api_key, header.api_version, request.body, code)
        reason = "unsupported version" if cause is None else f"handler failed: {cause!r}"
        if body is None:
            raise HandlerError(f"{what}: {reason}, and the API has no error field")
        try:
            return encode_response_chunks(header, body)
        except ProtocolError as exc:
            raise HandlerError(
                f"{what}: {reason}, and no error response can be encoded ({exc})"
            ) from None
