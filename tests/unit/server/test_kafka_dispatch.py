"""The Kafka dispatcher with the real codec, over in-memory streams."""

from __future__ import annotations

import logging
import struct
from typing import Any

import pytest
import trio
import trio.testing

from broker.metrics import Metrics
from broker.server.connection import Connection, ConnectionLimits
from broker.server.context import ConnectionInfo, RequestContext
from broker.server.kafka import HandlerRegistry, KafkaDispatcher, default_registry
from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    RequestHeader,
    decode_response,
    encode_request,
)


async def _read_frame(stream: trio.abc.ReceiveStream) -> bytes | None:
    buf = bytearray()
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buf += data
    size = struct.unpack(">i", buf[:4])[0]
    assert len(buf) == 4 + size, "one response at a time in these tests"
    return bytes(buf[4:])


class Client:
    """Sends requests and decodes responses, checking correlation ids."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.correlation_id = 0

    async def send(self, api: ApiKey, version: int, body: dict[str, Any]) -> int:
        self.correlation_id += 1
        await self.stream.send_all(encode_request(api, version, self.correlation_id, "test", body))
        return self.correlation_id

    async def call(self, api: ApiKey, version: int, body: dict[str, Any]) -> dict[str, Any]:
        sent = await self.send(api, version, body)
        frame = await _read_frame(self.stream)
        assert frame is not None, "connection closed"
        correlation_id, response = decode_response(api, version, frame)
        assert correlation_id == sent
        return response


def _start(registry: HandlerRegistry, metrics: Metrics) -> tuple[Connection, Client]:
    client, server = trio.testing.memory_stream_pair()
    conn = Connection(
        server,
        ConnectionInfo(1, "test:1", "PLAINTEXT"),
        KafkaDispatcher(registry, metrics.server),
        ConnectionLimits(),
        metrics.server,
    )
    return conn, Client(client)


PRODUCE_BODY = {
    "transactional_id": None,
    "acks": 1,
    "timeout_ms": 1000,
    "topic_data": [
        {
            "name": "t",
            "partition_data": [{"index": 0, "records": None}, {"index": 3, "records": None}],
        }
    ],
}


async def test_api_versions_advertises_exactly_the_registered_apis() -> None:
    registry = default_registry()

    async def produce(ctx: RequestContext, header: RequestHeader, body: dict[str, Any]) -> None:
        return None

    registry.register(ApiKey.PRODUCE, produce)
    metrics = Metrics()
    conn, client = _start(registry, metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        response = await client.call(ApiKey.API_VERSIONS, 3, {
            "client_software_name": "t", "client_software_version": "1"})
        await client.stream.aclose()
    assert response["error_code"] == ErrorCode.NONE
    advertised = {e["api_key"]: (e["min_version"], e["max_version"]) for e in response["api_keys"]}
    assert advertised == {
        ApiKey.PRODUCE: SUPPORTED_VERSIONS[ApiKey.PRODUCE],
        ApiKey.API_VERSIONS: SUPPORTED_VERSIONS[ApiKey.API_VERSIONS],
    }
    assert metrics.registry.get_sample_value(
        "rillet_server_requests_total", {"api": "API_VERSIONS"}) == 1


async def test_unsupported_api_versions_version_gets_the_v0_error_reply() -> None:
    conn, client = _start(default_registry(), Metrics())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        high = SUPPORTED_VERSIONS[ApiKey.API_VERSIONS][1]
        # A version above ours: write the request with our highest version, then raise it.
        frame = bytearray(encode_request(ApiKey.API_VERSIONS, high, 7, "t", {
            "client_software_name": "t", "client_software_version": "1"}))
        struct.pack_into(">h", frame, 6, high + 50)
        await client.stream.send_all(bytes(frame))
        reply = await _read_frame(client.stream)
        assert reply is not None
        correlation_id, body = decode_response(ApiKey.API_VERSIONS, 0, reply)
        assert correlation_id == 7
        assert body["error_code"] == ErrorCode.UNSUPPORTED_VERSION
        assert ApiKey.API_VERSIONS in [e["api_key"] for e in body["api_keys"]]
        # The connection stays usable.
        response = await client.call(ApiKey.API_VERSIONS, 0, {})
        assert response["error_code"] == ErrorCode.NONE
        await client.stream.aclose()


async def test_handler_exception_becomes_unknown_server_error_per_partition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = default_registry()

    async def produce(ctx: RequestContext, header: RequestHeader, body: dict[str, Any]) -> None:
        raise RuntimeError("disk on fire")

    registry.register(ApiKey.PRODUCE, produce)
    metrics = Metrics()
    conn, client = _start(registry, metrics)
    caplog.set_level(logging.ERROR, logger="rillet")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        response = await client.call(ApiKey.PRODUCE, 7, PRODUCE_BODY)
        again = await client.call(ApiKey.API_VERSIONS, 0, {})
        await client.stream.aclose()
    [topic] = response["responses"]
    assert topic["name"] == "t"
    assert [(p["index"], p["error_code"]) for p in topic["partition_responses"]] == [
        (0, ErrorCode.UNKNOWN_SERVER_ERROR),
        (3, ErrorCode.UNKNOWN_SERVER_ERROR),
    ]
    assert again["error_code"] == ErrorCode.NONE
    assert any("disk on fire" in r.getMessage() or "disk on fire" in (r.exc_text or "")
               for r in caplog.records)
    assert metrics.registry.get_sample_value(
        "rillet_server_request_errors_total", {"api": "PRODUCE"}) == 1


async def test_acks_0_gets_no_response_and_later_requests_do() -> None:
    registry = default_registry()

    async def produce(ctx: RequestContext, header: RequestHeader, body: dict[str, Any]) -> None:
        return None

    registry.register(ApiKey.PRODUCE, produce)
    conn, client = _start(registry, Metrics())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send(ApiKey.PRODUCE, 7, {**PRODUCE_BODY, "acks": 0})
        response = await client.call(ApiKey.API_VERSIONS, 0, {})
        assert response["error_code"] == ErrorCode.NONE
        await client.stream.aclose()


async def test_failure_of_an_api_without_an_error_field_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = default_registry()

    async def metadata(ctx: RequestContext, header: RequestHeader, body: dict[str, Any]) -> None:
        raise RuntimeError("no metadata today")

    registry.register(ApiKey.METADATA, metadata)
    conn, client = _start(registry, Metrics())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.send(ApiKey.METADATA, 1, {"topics": None})
        assert await _read_frame(client.stream) is None
    assert conn.close_reason == "handler"


async def test_malformed_frame_closes_the_connection() -> None:
    conn, client = _start(default_registry(), Metrics())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        await client.stream.send_all(struct.pack(">i", 3) + b"\x00\x12\x00")
        assert await _read_frame(client.stream) is None
    assert conn.close_reason == "malformed"


def test_registry_refuses_duplicates_and_unknown_apis() -> None:
    registry = default_registry()

    async def handler(ctx: RequestContext, header: RequestHeader, body: dict[str, Any]) -> None:
        return None

    with pytest.raises(ValueError, match="already has a handler"):
        registry.register(ApiKey.API_VERSIONS, handler)
    registry.register(ApiKey.API_VERSIONS, handler, replace=True)
    assert registry.get(ApiKey.API_VERSIONS) is handler


async def test_an_api_without_a_handler_gets_unsupported_version() -> None:
    conn, client = _start(default_registry(), Metrics())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.run)
        response = await client.call(
            ApiKey.HEARTBEAT, 0, {"group_id": "g", "generation_id": 1, "member_id": "m"}
        )
        assert response["error_code"] == ErrorCode.UNSUPPORTED_VERSION
        await client.stream.aclose()
    assert conn.close_reason == "eof"
