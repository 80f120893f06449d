"""BrokerConnection against a fake broker: negotiation, pipelining, order, failures."""

from __future__ import annotations

import pytest
import trio

from client.errors import KafkaConnectionError, KafkaTimeoutError, UnsupportedVersionByBrokerError
from client.network import BrokerConnection, negotiate
from client.protocol import SUPPORTED_VERSIONS, ApiKey
from client.records import build_batch
from unit.sdk.fake_broker import FakeBroker


def test_negotiate_picks_highest_common_version() -> None:
    ours = SUPPORTED_VERSIONS[ApiKey.METADATA]
    chosen = negotiate({ApiKey.METADATA: (0, 7), ApiKey.FETCH: (13, 16), ApiKey.PRODUCE: (0, 99)})
    assert chosen[ApiKey.METADATA] == min(7, ours[1])
    assert chosen[ApiKey.PRODUCE] == SUPPORTED_VERSIONS[ApiKey.PRODUCE][1]
    assert ApiKey.FETCH not in chosen  # no overlap: 13..16 vs ours
    assert ApiKey.JOIN_GROUP not in chosen  # broker does not speak it


async def test_connect_negotiates_with_broker_ranges(fake: FakeBroker) -> None:
    fake.advertised[ApiKey.METADATA] = (0, 5)
    async with BrokerConnection("127.0.0.1", fake.port, client_id="c") as conn:
        assert conn.versions[ApiKey.METADATA] == 5
        reply = await conn.request(ApiKey.METADATA, {"topics": None})
        assert reply is not None and [t["name"] for t in reply["topics"]] == ["t"]
    assert fake.requests[-1][0].api_version == 5
    assert fake.requests[-1][0].client_id == "c"


async def test_apiversions_retried_at_broker_version(fake: FakeBroker) -> None:
    # the broker only knows ApiVersions 0..2: it answers our v4 with the v0 error body
    fake.advertised[ApiKey.API_VERSIONS] = (0, 2)
    async with BrokerConnection("127.0.0.1", fake.port) as conn:
        assert conn.versions[ApiKey.API_VERSIONS] == 2
        assert conn.versions[ApiKey.METADATA] == SUPPORTED_VERSIONS[ApiKey.METADATA][1]
    sent = [h.api_version for h, _ in fake.requests if h.api_key == ApiKey.API_VERSIONS]
    assert sent == [SUPPORTED_VERSIONS[ApiKey.API_VERSIONS][1], 2]


async def test_pipelined_responses_match_requests(fake: FakeBroker) -> None:
    fake.state.add_topic("u", 7)

    async def slow_first(header, body):  # type: ignore[no-untyped-def]
        # answer in order even when the first takes longest: responses must still match
        if body["topics"] and body["topics"][0]["name"] == "t":
            await trio.sleep(0.05)
        return fake._metadata(header, body)

    fake.hooks[ApiKey.METADATA] = slow_first
    results: dict[str, int] = {}
    async with BrokerConnection("127.0.0.1", fake.port, max_in_flight=3) as conn:

        async def ask(name: str) -> None:
            reply = await conn.request(ApiKey.METADATA, {"topics": [{"name": name}]})
            assert reply is not None
            results[name] = len(reply["topics"][0]["partitions"])

        async with trio.open_nursery() as n:
            for name in ["t", "u", "t", "u"]:
                n.start_soon(ask, name)
    assert results == {"t": 3, "u": 7}


async def test_in_flight_limit_bounds_outstanding_requests(fake: FakeBroker) -> None:
    release = trio.Event()
    seen_max = 0
    waiting = 0

    async def gated(header, body):  # type: ignore[no-untyped-def]
        nonlocal seen_max, waiting
        waiting += 1
        seen_max = max(seen_max, waiting)
        await release.wait()
        waiting -= 1
        return fake._metadata(header, body)

    fake.hooks[ApiKey.METADATA] = gated
    async with BrokerConnection("127.0.0.1", fake.port, max_in_flight=2) as conn:
        async with trio.open_nursery() as n:
            for _ in range(5):
                n.start_soon(conn.request, ApiKey.METADATA, {"topics": []})
            with trio.fail_after(5):
                while conn.in_flight < 2:
                    await trio.sleep(0.01)
            await trio.sleep(0.05)
            # three callers wait for a slot: only two requests are ever written
            assert conn.in_flight == 2
            release.set()
    assert fake.count(ApiKey.METADATA) == 5


async def test_request_timeout_fails_connection(fake: FakeBroker) -> None:
    async def never(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    fake.hooks[ApiKey.METADATA] = never
    async with BrokerConnection("127.0.0.1", fake.port, request_timeout=0.1) as conn:
        with pytest.raises(KafkaTimeoutError) as info:
            await conn.request(ApiKey.METADATA, {"topics": []})
        assert info.value.retriable
        assert conn.closed
        with pytest.raises(KafkaConnectionError):
            await conn.request(ApiKey.METADATA, {"topics": []})


async def test_broker_disconnect_fails_outstanding(fake: FakeBroker) -> None:
    async def crash(header, body):  # type: ignore[no-untyped-def]
        fake.stop()
        await trio.sleep_forever()

    fake.hooks[ApiKey.METADATA] = crash
    async with BrokerConnection("127.0.0.1", fake.port) as conn:
        with pytest.raises(KafkaConnectionError):
            await conn.request(ApiKey.METADATA, {"topics": []})


async def test_connect_refused_is_connection_error() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(KafkaConnectionError) as info:
        await BrokerConnection("127.0.0.1", port).connect()
    assert info.value.retriable


async def test_version_outside_common_range_rejected(fake: FakeBroker) -> None:
    fake.advertised[ApiKey.METADATA] = (4, 6)
    async with BrokerConnection("127.0.0.1", fake.port) as conn:
        assert conn.version_for(ApiKey.METADATA, max_version=5) == 5
        with pytest.raises(UnsupportedVersionByBrokerError):
            conn.version_for(ApiKey.METADATA, max_version=2)
        with pytest.raises(UnsupportedVersionByBrokerError):
            await conn.request(ApiKey.METADATA, {"topics": []}, version=9)


async def test_cancelled_waiter_keeps_later_responses_matched(fake: FakeBroker) -> None:
    async def slow(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep(0.05)
        return fake._metadata(header, body)

    fake.hooks[ApiKey.METADATA] = slow
    async with BrokerConnection("127.0.0.1", fake.port) as conn:
        with trio.move_on_after(0.01):
            await conn.request(ApiKey.METADATA, {"topics": [{"name": "t"}]})
        reply = await conn.request(ApiKey.METADATA, {"topics": []})
        assert reply is not None and reply["topics"] == []
        assert not conn.closed


async def test_large_requests_arrive_whole(fake: FakeBroker) -> None:
    # batches well beyond a socket buffer: the vectored write must resume after partial sends
    batches = [
        build_batch([bytes([i]) * 1000] * (2000 + 500 * i), now_ms=1) for i in range(3)
    ]
    async with BrokerConnection("127.0.0.1", fake.port) as conn:
        for records in batches:
            body = {"acks": 1, "timeout_ms": 1000, "topic_data": [
                {"name": "t", "partition_data": [{"index": 0, "records": records}]}]}
            reply = await conn.request(ApiKey.PRODUCE, body)
            assert reply is not None
            assert reply["responses"][0]["partition_responses"][0]["error_code"] == 0
    stored = fake.state.logs[("t", 0)]
    assert [len(b) for b in stored] == [len(b) for b in batches]
    for got, sent in zip(stored, batches):
        assert got[8:] == sent[8:]  # the broker rewrote only the base offset
