"""kafka-python's KafkaAdminClient administering a real Rillet broker.

AlterConfigs (the non-incremental API, which replaces a topic's whole override set),
broker-level dynamic defaults that every topic without an override follows (also after a
restart), partitions, validation and deletion.  Errors are compared by kafka-python's error
classes, which it picks by the Kafka error code.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import kafka.errors as Errors
import pytest
from kafka import KafkaAdminClient
from kafka.admin import (
    AlterConfigOp,
    ConfigResource,
    ConfigResourceType,
    NewPartitions,
    NewTopic,
)

from harness.broker import BrokerProcess

TOPIC = ConfigResourceType.TOPIC
BROKER = ConfigResourceType.BROKER


@pytest.fixture
def admin(broker: BrokerProcess) -> Iterator[KafkaAdminClient]:
    """An admin client bootstrapped from the module's broker."""
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15_000)
    yield client
    client.close()


def configs_of(admin: KafkaAdminClient, kind: ConfigResourceType, name: str) -> dict:
    """Every config of a resource: key -> {"value", "config_source", "read_only", ...}."""
    described = admin.describe_configs([ConfigResource(kind, name)], config_filter="all")
    return described[kind.name.lower()][name]


def value_and_source(admin: KafkaAdminClient, kind: ConfigResourceType, name: str,
                     key: str) -> tuple[str, str]:  # fmt: skip
    config = configs_of(admin, kind, name)[key]
    return config["value"], config["config_source"]


def test_alter_configs_replaces_the_override_set(admin: KafkaAdminClient, topic_name: str):
    admin.create_topics([NewTopic(topic_name, 1, 1, topic_configs={"retention.ms": "1234"})])
    result = admin.alter_configs(
        [ConfigResource(TOPIC, topic_name, configs={"segment.bytes": "100000"})],
        incremental=False,
    )
    assert result == {"topic": {topic_name: "OK"}}
    # the client re-sends overrides it did not mention, so retention.ms stays
    assert value_and_source(admin, TOPIC, topic_name, "segment.bytes") == (
        "100000", "DYNAMIC_TOPIC_CONFIG")  # fmt: skip
    assert value_and_source(admin, TOPIC, topic_name, "retention.ms") == (
        "1234", "DYNAMIC_TOPIC_CONFIG")  # fmt: skip

    # reset_configs on an AlterConfigs path sends the set without the key: it goes away
    admin.reset_configs([ConfigResource(TOPIC, topic_name, configs={"retention.ms": None})],
                        incremental=False)  # fmt: skip
    assert value_and_source(admin, TOPIC, topic_name, "retention.ms") == (
        "604800000", "DEFAULT_CONFIG")  # fmt: skip
    assert value_and_source(admin, TOPIC, topic_name, "segment.bytes")[0] == "100000"

    result = admin.alter_configs(
        [ConfigResource(TOPIC, topic_name, configs={"retention.ms": "soon"})],
        incremental=False,
    )
    assert "InvalidConfigurationError" in result["topic"][topic_name]
    result = admin.alter_configs(
        [ConfigResource(TOPIC, topic_name, configs={"no.such.key": "1"})],
        incremental=False, raise_on_unknown=False,
    )  # fmt: skip
    assert "InvalidConfigurationError" in result["topic"][topic_name]
    assert value_and_source(admin, TOPIC, topic_name, "segment.bytes")[0] == "100000"


def test_broker_defaults_change_at_run_time_and_survive_restart(
    broker: BrokerProcess, topic_name: str
):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15_000)
    admin.create_topics([NewTopic(topic_name, 1, 1)])
    try:
        admin.alter_configs([ConfigResource(BROKER, "0", configs={
            "log.retention.ms": "86400000",
            "log.cleanup.policy": (AlterConfigOp.APPEND, "compact"),
        })])  # fmt: skip
        assert value_and_source(admin, BROKER, "0", "log.retention.ms") == (
            "86400000", "DYNAMIC_BROKER_CONFIG")  # fmt: skip
        for key, expected in (("retention.ms", "86400000"), ("cleanup.policy", "delete,compact")):
            assert value_and_source(admin, TOPIC, topic_name, key) == (
                expected, "DYNAMIC_BROKER_CONFIG")  # fmt: skip
        # keys that only the config file sets are refused
        result = admin.alter_configs(
            [ConfigResource(BROKER, "0", configs={"num.partitions": "8"})],
            raise_on_unknown=False,
        )
        assert "InvalidConfigurationError" in result["broker"]["0"]
    finally:
        admin.close()

    broker.restart(signal.SIGTERM)

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15_000)
    try:
        assert value_and_source(admin, TOPIC, topic_name, "retention.ms") == (
            "86400000", "DYNAMIC_BROKER_CONFIG")  # fmt: skip
        admin.reset_configs([ConfigResource(BROKER, "0",
                                            configs=["log.retention.ms", "log.cleanup.policy"])])
        assert value_and_source(admin, TOPIC, topic_name, "retention.ms") == (
            "604800000", "DEFAULT_CONFIG")  # fmt: skip
        assert value_and_source(admin, BROKER, "0", "log.cleanup.policy") == (
            "delete", "STATIC_BROKER_CONFIG")  # fmt: skip
    finally:
        admin.close()


def test_create_partitions(admin: KafkaAdminClient, topic_name: str):
    admin.create_topics([NewTopic(topic_name, 2, 1)])
    admin.create_partitions({topic_name: NewPartitions(4)}, validate_only=True)
    assert len(admin.describe_topics([topic_name])[0]["partitions"]) == 2
    admin.create_partitions({topic_name: NewPartitions(4)})
    (described,) = admin.describe_topics([topic_name])
    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1, 2, 3]
    with pytest.raises(Errors.InvalidPartitionsError):
        admin.create_partitions({topic_name: NewPartitions(3)})
    with pytest.raises(Errors.UnknownTopicOrPartitionError):
        admin.create_partitions({topic_name + "-missing": NewPartitions(3)})


def test_create_topic_errors_and_validate_only(admin: KafkaAdminClient, topic_name: str):
    admin.create_topics([NewTopic(topic_name, 3, 1)], validate_only=True)
    assert topic_name not in admin.list_topics()
    with pytest.raises(Errors.InvalidReplicationFactorError):
        admin.create_topics([NewTopic(topic_name, 1, 2)])
    with pytest.raises(Errors.InvalidPartitionsError):
        admin.create_topics([NewTopic(topic_name, 0, 1)])
    with pytest.raises(Errors.InvalidConfigurationError):
        bad = {"min.insync.replicas": "0"}
        admin.create_topics([NewTopic(topic_name, 1, 1, topic_configs=bad)])
    with pytest.raises(Errors.InvalidTopicError):
        admin.create_topics([NewTopic(topic_name + "/bad", 1, 1)])
    assert topic_name not in admin.list_topics()
    admin.create_topics([NewTopic(topic_name, 3, 1)])
    with pytest.raises(Errors.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic_name, 3, 1)])


def test_delete_topics(admin: KafkaAdminClient, topic_name: str):
    names = [topic_name + "-a", topic_name + "-b"]
    admin.create_topics([NewTopic(name, 1, 1) for name in names])
    assert set(names) <= set(admin.list_topics())
    admin.delete_topics(names)
    assert not set(names) & set(admin.list_topics())
    with pytest.raises(Errors.UnknownTopicOrPartitionError):
        admin.delete_topics(names[:1])
