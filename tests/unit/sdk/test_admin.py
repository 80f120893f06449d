"""Admin client against fake brokers: requests go to the right node, errors surface."""

from __future__ import annotations

import pytest
import trio

from client.admin import Admin, NewTopic, ResourceType
from client.errors import (
    GroupIdNotFoundError,
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from client.protocol import ApiKey, ErrorCode
from unit.sdk.fake_broker import FakeBroker


async def test_topic_lifecycle(fake: FakeBroker) -> None:
    async with Admin(fake.bootstrap) as admin:
        await admin.create_topics(
            [NewTopic("a", 2), NewTopic("b", 4, configs={"retention.ms": "1"})]
        )
        assert await admin.list_topics() == ["a", "b", "t"]
        described = await admin.describe_topics(["b"])
        assert [p.partition for p in described["b"].partitions] == [0, 1, 2, 3]
        assert described["b"].partitions[0].leader == 0
        await admin.create_partitions({"a": 5})
        assert len((await admin.describe_topics(["a"]))["a"].partitions) == 5
        await admin.delete_topics(["a"])
        assert await admin.list_topics() == ["b", "t"]
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.describe_topics(["a"])


async def test_create_reports_every_failure(fake: FakeBroker) -> None:
    async with Admin(fake.bootstrap) as admin:
        with pytest.raises(TopicAlreadyExistsError) as info:
            await admin.create_topics([NewTopic("t", 1), NewTopic("bad", 0), NewTopic("ok", 1)])
        assert set(info.value.errors) == {"t", "bad"}  # type: ignore[attr-defined]
        errors = info.value.errors  # type: ignore[attr-defined]
        assert isinstance(errors["bad"], InvalidPartitionsError)
        assert "ok" in fake.state.topics
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.delete_topics(["missing"])
        with pytest.raises(InvalidPartitionsError):
            await admin.create_partitions({"t": 2})


async def test_not_controller_is_retried_after_refresh(
    nursery: trio.Nursery, fake: FakeBroker
) -> None:
    other = await FakeBroker(fake.state, 1).start(nursery)
    fake.state.controller = 1

    def moved(header, body):  # type: ignore[no-untyped-def]
        fake.state.controller = 0  # the controller moves while the request is on its way
        return {"topics": [{"name": t["name"], "error_code": ErrorCode.NOT_CONTROLLER}
                           for t in body["topics"]]}

    other.hooks[ApiKey.CREATE_TOPICS] = moved
    async with Admin(fake.bootstrap, retry_backoff_ms=5) as admin:
        await admin.create_topic("moved", 3)
    assert fake.state.topics["moved"] == 3
    assert other.count(ApiKey.CREATE_TOPICS) == 1 and fake.count(ApiKey.CREATE_TOPICS) == 1


async def test_configs(fake: FakeBroker) -> None:
    async with Admin(fake.bootstrap) as admin:
        await admin.alter_configs("topic", "t", {"retention.ms": "1000", "cleanup.policy": None})
        configs = await admin.describe_configs(ResourceType.TOPIC, "t")
        assert configs["retention.ms"].value == "1000" and not configs["retention.ms"].is_default
        assert configs["cleanup.policy"].is_default
        only = await admin.describe_configs("topic", "t", keys=["retention.ms"])
        assert list(only) == ["retention.ms"]
        with pytest.raises(UnknownTopicOrPartitionError):
            await admin.describe_configs("topic", "nope")
        with pytest.raises(ValueError):
            await admin.describe_configs("table", "t")


async def test_alter_configs_falls_back_to_full_replace(fake: FakeBroker) -> None:
    del fake.advertised[ApiKey.INCREMENTAL_ALTER_CONFIGS]
    fake.state.configs["t"] = {"segment.ms": "5"}
    async with Admin(fake.bootstrap) as admin:
        await admin.alter_configs("topic", "t", {"retention.ms": "7"})
    # the other override survived the non-incremental request
    assert fake.state.configs["t"] == {"segment.ms": "5", "retention.ms": "7"}


async def test_groups(fake: FakeBroker) -> None:
    async with Admin(fake.bootstrap) as admin:
        await admin.alter_group_offsets("g", {("t", 0): 42, ("t", 1): 7})
        header, body = fake.requests[-1]
        assert header.api_key == ApiKey.OFFSET_COMMIT
        assert body["generation_id_or_member_epoch"] == -1 and body["member_id"] == ""
        assert await admin.list_group_offsets("g") == {("t", 0): 42, ("t", 1): 7}
        assert [g.group_id for g in await admin.list_groups()] == ["g"]
        described = await admin.describe_groups(["g"])
        assert described["g"].state == "Empty" and described["g"].coordinator == 0
        await admin.delete_groups(["g"])
        with pytest.raises(GroupIdNotFoundError):
            await admin.delete_groups(["g"])


async def test_describe_cluster(fake: FakeBroker) -> None:
    async with Admin(fake.bootstrap) as admin:
        described = await admin.describe_cluster()
    assert described.cluster_id == "fake" and described.controller_id == 0
    assert described.brokers == [(0, "127.0.0.1", fake.port, None)]
