"""Cluster against fake brokers: bootstrap, metadata cache, routing, coordinators."""

from __future__ import annotations

import pytest
import trio

from client.errors import InvalidTopicError, KafkaConnectionError, UnknownTopicOrPartitionError
from client.network import Cluster, parse_bootstrap_servers
from client.network.metadata import ClusterMetadata, merge_metadata_response
from client.protocol import ApiKey, ErrorCode
from unit.sdk.fake_broker import FakeBroker


def test_parse_bootstrap_servers() -> None:
    assert parse_bootstrap_servers("a:1, b:2") == [("a", 1), ("b", 2)]
    assert parse_bootstrap_servers(["[::1]:9093", "host"]) == [("::1", 9093), ("host", 9092)]
    with pytest.raises(ValueError, match="port"):
        parse_bootstrap_servers("a:x")
    with pytest.raises(ValueError):
        parse_bootstrap_servers("")


def _response(epoch: int, leader: int) -> dict:
    return {
        "brokers": [{"node_id": 0, "host": "h", "port": 1}],
        "controller_id": 0,
        "topics": [{
            "error_code": 0, "name": "t",
            "partitions": [{"error_code": 0, "partition_index": 0, "leader_id": leader,
                            "leader_epoch": epoch, "replica_nodes": [0], "isr_nodes": [0]}],
        }],
    }


def test_metadata_never_moves_to_older_leader_epoch() -> None:
    md = merge_metadata_response(ClusterMetadata(), _response(5, 1), 1.0, ["t"])
    stale = merge_metadata_response(md, _response(4, 2), 2.0, ["t"])
    assert stale.leader_for("t", 0) == 1
    newer = merge_metadata_response(stale, _response(6, 2), 3.0, ["t"])
    assert newer.leader_for("t", 0) == 2


def test_unknown_topic_dropped_and_error_remembered() -> None:
    md = merge_metadata_response(ClusterMetadata(), _response(0, 0), 1.0, ["t"])
    gone = dict(_response(0, 0))
    gone["topics"] = [{"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": "t",
                       "partitions": []}]
    after = merge_metadata_response(md, gone, 2.0, ["t"])
    assert "t" not in after.topics
    assert after.topic_errors["t"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


async def test_start_and_leader_lookup(fake: FakeBroker) -> None:
    async with Cluster(fake.bootstrap) as cluster:
        assert cluster.metadata.brokers[0].port == fake.port
        assert await cluster.leader_for("t", 2) == 0
        assert await cluster.partitions_for("t") == [0, 1, 2]
        with pytest.raises(UnknownTopicOrPartitionError):
            await cluster.leader_for("t", 3, timeout=0.3)


async def test_bootstrap_skips_dead_server(fake: FakeBroker) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    dead = listener.socket.getsockname()[1]
    await listener.aclose()
    async with Cluster([f"127.0.0.1:{dead}", fake.bootstrap]) as cluster:
        assert await cluster.leader_for("t", 0) == 0


async def test_start_fails_when_nothing_listens() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    dead = listener.socket.getsockname()[1]
    await listener.aclose()
    cluster = Cluster(f"127.0.0.1:{dead}", request_timeout_ms=1000, retry_backoff_ms=10)
    with pytest.raises(KafkaConnectionError):
        await cluster.start()
    await cluster.aclose()


async def test_unknown_topic_retried_until_created(fake: FakeBroker) -> None:
    async with Cluster(fake.bootstrap, retry_backoff_ms=5, retry_backoff_max_ms=20) as cluster:
        async with trio.open_nursery() as n:

            async def create_later() -> None:
                await trio.sleep(0.1)
                fake.state.add_topic("late", 2)

            n.start_soon(create_later)
            assert await cluster.partitions_for("late") == [0, 1]


async def test_non_retriable_topic_error_raised_at_once(fake: FakeBroker) -> None:
    def bad_topic(header, body):  # type: ignore[no-untyped-def]
        reply = fake._metadata(header, body)
        for t in reply["topics"]:
            if t["name"] == "bad name":
                t["error_code"] = ErrorCode.INVALID_TOPIC_EXCEPTION
        return reply

    fake.hooks[ApiKey.METADATA] = bad_topic
    async with Cluster(fake.bootstrap) as cluster:
        with trio.fail_after(5):
            with pytest.raises(InvalidTopicError):
                await cluster.partitions_for("bad name")


async def test_leader_move_followed_after_refresh(nursery: trio.Nursery, fake: FakeBroker) -> None:
    other = await FakeBroker(fake.state, 1).start(nursery)
    async with Cluster(fake.bootstrap) as cluster:
        assert await cluster.leader_for("t", 1) == 0
        fake.state.leaders[("t", 1)] = 1
        fake.state.leader_epochs[("t", 1)] = 1
        assert await cluster.leader_for("t", 1) == 0  # cached until told otherwise
        cluster.request_update()
        assert await cluster.leader_for("t", 1) == 1
        reply = await cluster.request(1, ApiKey.METADATA, {"topics": []})
        assert reply["controller_id"] == 0
    assert other.count(ApiKey.METADATA) >= 1


async def test_concurrent_refreshes_share_one_request(fake: FakeBroker) -> None:
    async def slow(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep(0.05)
        return fake._metadata(header, body)

    async with Cluster(fake.bootstrap) as cluster:
        await cluster.partitions_for("t")
        fake.hooks[ApiKey.METADATA] = slow
        before = fake.count(ApiKey.METADATA)
        async with trio.open_nursery() as n:
            for _ in range(10):
                n.start_soon(cluster.refresh_metadata)
        # the first refresh runs alone; everyone queued behind it is satisfied by it
        assert fake.count(ApiKey.METADATA) - before <= 2


async def test_coordinator_cached_and_retried(fake: FakeBroker) -> None:
    answers = [ErrorCode.COORDINATOR_NOT_AVAILABLE, 0]

    def find(header, body):  # type: ignore[no-untyped-def]
        code = answers.pop(0) if answers else 0
        return {"error_code": code, "node_id": 0 if not code else -1,
                "host": "127.0.0.1" if not code else "", "port": fake.port if not code else -1}

    fake.hooks[ApiKey.FIND_COORDINATOR] = find
    async with Cluster(fake.bootstrap, retry_backoff_ms=5) as cluster:
        assert await cluster.coordinator_for("g") == 0
        assert await cluster.coordinator_for("g") == 0
        assert fake.count(ApiKey.FIND_COORDINATOR) == 2
        cluster.invalidate_coordinator("g")
        assert await cluster.coordinator_for("g") == 0
        assert fake.count(ApiKey.FIND_COORDINATOR) == 3


async def test_reconnects_after_broker_restart(nursery: trio.Nursery, fake: FakeBroker) -> None:
    async with Cluster(fake.bootstrap, retry_backoff_ms=5) as cluster:
        await cluster.request(0, ApiKey.METADATA, {"topics": []})
        fake.stop()
        await trio.sleep(0.01)
        with pytest.raises(KafkaConnectionError):
            await cluster.request(0, ApiKey.METADATA, {"topics": []})
        await fake.start(nursery)  # same port
        reply = await cluster.request(0, ApiKey.METADATA, {"topics": []})
        assert reply["brokers"][0]["node_id"] == 0
