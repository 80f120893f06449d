"""The connection layer against a real broker: bootstrap, negotiation, metadata, errors."""

from __future__ import annotations

import pytest
import trio

from client import Admin, NewTopic, Producer
from client.errors import KafkaError, MessageTooLargeError
from client.network import Cluster
from client.protocol import SUPPORTED_VERSIONS, ApiKey
from harness.broker import BrokerProcess, free_port


async def test_bootstrap_list_skips_a_dead_server(broker: BrokerProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with Cluster([dead, broker.bootstrap]) as cluster:
        assert list(cluster.metadata.brokers) == [0]
        assert cluster.metadata.controller_id == 0


async def test_versions_are_the_highest_both_speak(broker: BrokerProcess) -> None:
    async with Cluster(broker.bootstrap) as cluster:
        conn = await cluster.connection(0)
    assert conn.versions
    for api_key, version in conn.versions.items():
        ours = SUPPORTED_VERSIONS[api_key]
        theirs = conn.broker_versions[api_key]
        assert version == min(ours[1], theirs[1])
    assert conn.versions[ApiKey.PRODUCE] >= 3


async def test_producer_follows_partition_growth(broker: BrokerProcess, topic_name: str) -> None:
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, 1)])
        options = {"metadata_max_age_ms": 200, "batch_size": 500, "linger_ms": 1}
        async with Producer(broker.bootstrap, **options) as producer:
            assert (await producer.send_and_wait(topic_name, b"x")).partition == 0
            await admin.create_partitions({topic_name: 3})
            seen: set[int] = set()
            with trio.fail_after(20):
                while seen != {0, 1, 2}:
                    future = await producer.send(topic_name, b"y" * 100)
                    seen.add((await future).partition)


async def test_broker_rejection_carries_the_kafka_name(
    broker: BrokerProcess, topic_name: str
) -> None:
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, 1, 1, {"max.message.bytes": "1000"})])
    async with Producer(broker.bootstrap) as producer:
        future = await producer.send(topic_name, b"z" * 5000)
        with pytest.raises(KafkaError) as info:
            await future
        assert info.value.name in ("MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE")
        assert isinstance(info.value, MessageTooLargeError) or info.value.error_code == 18
        ok = await producer.send_and_wait(topic_name, b"small")
    assert ok.offset == 0
