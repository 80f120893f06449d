"""The SDK admin client against a real broker."""

from __future__ import annotations

import pytest

from client import Admin, NewTopic, Producer
from client.errors import (
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from harness.broker import BrokerProcess


async def test_topics(broker: BrokerProcess, topic_name: str) -> None:
    other = topic_name + "-2"
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([
            NewTopic(topic_name, 3, 1, {"retention.ms": "3600000"}),
            NewTopic(other, 1),
        ])
        names = await admin.list_topics()
        assert topic_name in names and other in names
        described = (await admin.describe_topics([topic_name]))[topic_name]
        assert [p.partition for p in described.partitions] == [0, 1, 2]
        assert all(p.leader == 0 and p.replicas == (0,) for p in described.partitions)
        with pytest.raises(TopicAlreadyExistsError, match=topic_name):
            await admin.create_topic(topic_name, 3)
        await admin.create_partitions({topic_name: 5})
        described = (await admin.describe_topics([topic_name]))[topic_name]
        assert len(described.partitions) == 5
        with pytest.raises(InvalidPartitionsError):
            await admin.create_partitions({topic_name: 2})
        await admin.delete_topics([other])
        assert other not in await admin.list_topics()
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.describe_topics([other])
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.delete_topics([other])


async def test_configs(broker: BrokerProcess, topic_name: str) -> None:
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topic(topic_name, 1, configs={"retention.ms": "3600000"})
        configs = await admin.describe_configs("topic", topic_name)
        assert configs["retention.ms"].value == "3600000"
        assert not configs["retention.ms"].is_default
        await admin.alter_configs("topic", topic_name, {"retention.ms": "7200000",
                                                        "cleanup.policy": "compact"})
        changed = await admin.describe_configs("topic", topic_name, ["retention.ms",
                                                                     "cleanup.policy"])
        assert changed["retention.ms"].value == "7200000"
        assert changed["cleanup.policy"].value == "compact"
        await admin.alter_configs("topic", topic_name, {"cleanup.policy": None})
        reset = await admin.describe_configs("topic", topic_name, ["cleanup.policy"])
        assert reset["cleanup.policy"].value == "delete"


async def test_groups_and_offsets(broker: BrokerProcess, topic_name: str) -> None:
    group = topic_name + "-group"
    async with Producer(broker.bootstrap) as producer:
        for i in range(10):
            await producer.send(topic_name, b"%d" % i, partition=0)
        await producer.flush()
    async with Admin(broker.bootstrap) as admin:
        await admin.alter_group_offsets(group, {(topic_name, 0): 7})
        assert await admin.list_group_offsets(group) == {(topic_name, 0): 7}
        assert group in [g.group_id for g in await admin.list_groups()]
        described = (await admin.describe_groups([group]))[group]
        assert described.state == "Empty" and described.members == []
        await admin.delete_groups([group])
        assert group not in [g.group_id for g in await admin.list_groups()]


async def test_describe_cluster(broker: BrokerProcess) -> None:
    async with Admin(broker.bootstrap) as admin:
        described = await admin.describe_cluster()
    assert described.controller_id == 0
    assert described.brokers == [(0, "127.0.0.1", broker.port, None)]
    assert described.cluster_id
