"""confluent-kafka's AdminClient (librdkafka 2.x) administering a real Rillet broker.

Partitions, topic and broker configs, validation, deletion, the cluster description, and
topics coming back after a restart.  Errors are compared by librdkafka error code.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from harness.broker import BrokerProcess

TIMEOUT = 15
DYNAMIC_TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
DEFAULT = ConfigSource.DEFAULT_CONFIG.value


@pytest.fixture
def admin(broker: BrokerProcess) -> AdminClient:
    """An admin client bootstrapped from the module's broker."""
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(admin: AdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    """Create a topic and wait for the result."""
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs)
    admin.create_topics([topic])[name].result(TIMEOUT)


def error_code(future) -> int:
    """The librdkafka error code a failing admin future raises."""
    with pytest.raises(KafkaException) as raised:
        future.result(TIMEOUT)
    return raised.value.args[0].code()


def partition_count(admin: AdminClient, name: str) -> int | None:
    """Partitions of a topic in fresh metadata; None when the topic is not there."""
    topics = admin.list_topics(timeout=TIMEOUT).topics
    return len(topics[name].partitions) if name in topics else None


def topic_configs(admin: AdminClient, name: str) -> dict:
    """Every config entry of a topic by name."""
    resource = ConfigResource(ResourceType.TOPIC, name)
    return admin.describe_configs([resource])[resource].result(TIMEOUT)


def alter(admin: AdminClient, name: str, *entries: ConfigEntry, validate_only: bool = False):
    """Incremental alter of a topic's configs; the result future."""
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=list(entries))
    return admin.incremental_alter_configs([resource], validate_only=validate_only)[resource]


def entry(name: str, value: str | None, op: AlterConfigOpType) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=op)


def produce_to(bootstrap: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """One message per partition, explicitly addressed; the offset each got."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    delivered: dict[int, int] = {}
    errors = []

    def on_delivery(err, message) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered[message.partition()] = message.offset()

    for partition in partitions:
        producer.produce(topic, b"to %d" % partition, partition=partition, on_delivery=on_delivery)
    assert producer.flush(TIMEOUT) == 0
    assert errors == []
    return delivered


def test_create_partitions_grows_and_never_shrinks(admin: AdminClient, broker, topic_name: str):
    create(admin, topic_name, partitions=1)
    admin.create_partitions([NewPartitions(topic_name, 3)])[topic_name].result(TIMEOUT)
    assert partition_count(admin, topic_name) == 3
    assert produce_to(broker.bootstrap, topic_name, [0, 1, 2]) == {0: 0, 1: 0, 2: 0}

    for count in (2, 3):
        future = admin.create_partitions([NewPartitions(topic_name, count)])[topic_name]
        assert error_code(future) == KafkaError.INVALID_PARTITIONS
    validated = admin.create_partitions([NewPartitions(topic_name, 5)], validate_only=True)
    validated[topic_name].result(TIMEOUT)
    assert partition_count(admin, topic_name) == 3


def test_describe_configs_of_a_topic(admin: AdminClient, topic_name: str):
    create(admin, topic_name, **{"retention.ms": "123456"})
    configs = topic_configs(admin, topic_name)
    retention = configs["retention.ms"]
    assert retention.value == "123456"
    assert retention.source == DYNAMIC_TOPIC
    assert not retention.is_default
    segment = configs["segment.bytes"]  # the broker's log.segment.bytes from its config file
    assert (segment.value, segment.source) == ("1073741824", DEFAULT)
    assert configs["cleanup.policy"].value == "delete"


def test_describe_configs_of_the_broker(admin: AdminClient, broker: BrokerProcess):
    resource = ConfigResource(ResourceType.BROKER, "0")
    configs = admin.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["log.retention.ms"].value == "604800000"
    assert not configs["log.retention.ms"].is_read_only  # a topic default, changeable
    assert configs["listeners"].value == f"PLAINTEXT://{broker.bootstrap}"
    assert configs["listeners"].is_read_only
    assert configs["num.partitions"].value == "1"
    assert {e.source for e in configs.values()} == {ConfigSource.STATIC_BROKER_CONFIG.value}


def test_incremental_alter_cleanup_policy(admin: AdminClient, topic_name: str):
    create(admin, topic_name)

    def change(value: str | None, op: AlterConfigOpType) -> tuple[str, int]:
        alter(admin, topic_name, entry("cleanup.policy", value, op)).result(TIMEOUT)
        policy = topic_configs(admin, topic_name)["cleanup.policy"]
        return policy.value, policy.source

    # appending to a key without an override appends to the value in force
    assert change("compact", AlterConfigOpType.APPEND) == ("delete,compact", DYNAMIC_TOPIC)
    assert change("compact", AlterConfigOpType.SET) == ("compact", DYNAMIC_TOPIC)
    assert change("delete", AlterConfigOpType.APPEND) == ("compact,delete", DYNAMIC_TOPIC)
    assert change("delete", AlterConfigOpType.APPEND) == ("compact,delete", DYNAMIC_TOPIC)
    assert change(None, AlterConfigOpType.DELETE) == ("delete", DEFAULT)

    # APPEND is for list-valued keys only
    future = alter(admin, topic_name, entry("retention.ms", "5", AlterConfigOpType.APPEND))
    assert error_code(future) == KafkaError.INVALID_CONFIG
    assert topic_configs(admin, topic_name)["retention.ms"].source == DEFAULT


def test_validate_only_changes_nothing(admin: AdminClient, topic_name: str):
    futures = admin.create_topics([NewTopic(topic_name, 4, 1)], validate_only=True)
    futures[topic_name].result(TIMEOUT)
    assert partition_count(admin, topic_name) is None
    create(admin, topic_name)
    alter(
        admin, topic_name, entry("retention.ms", "1000", AlterConfigOpType.SET), validate_only=True
    ).result(TIMEOUT)
    assert topic_configs(admin, topic_name)["retention.ms"].value == "604800000"


@pytest.mark.parametrize(
    "configs",
    [{"retention.ms": "forever"}, {"segment.bytes": "-5"}, {"cleanup.policy": "shred"},
     {"no.such.config": "1"}, {"retention_ms": "1000"}],
    ids=["not-a-number", "out-of-range", "bad-choice", "unknown-key", "underscore-key"],
)  # fmt: skip
def test_invalid_configs_are_refused(admin: AdminClient, topic_name: str, configs: dict):
    future = admin.create_topics([NewTopic(topic_name, 1, 1, config=configs)])[topic_name]
    assert error_code(future) == KafkaError.INVALID_CONFIG
    assert partition_count(admin, topic_name) is None
    create(admin, topic_name)
    ((key, value),) = configs.items()
    future = alter(admin, topic_name, entry(key, value, AlterConfigOpType.SET))
    assert error_code(future) == KafkaError.INVALID_CONFIG
    assert not any(e.source == DYNAMIC_TOPIC
                   for e in topic_configs(admin, topic_name).values())  # fmt: skip


def test_bad_partition_and_replica_counts(admin: AdminClient, topic_name: str):
    future = admin.create_topics([NewTopic(topic_name, 1, 2)])[topic_name]
    assert error_code(future) == KafkaError.INVALID_REPLICATION_FACTOR
    future = admin.create_topics([NewTopic(topic_name, 0, 1)])[topic_name]
    assert error_code(future) == KafkaError.INVALID_PARTITIONS
    assert partition_count(admin, topic_name) is None


def test_delete_topics(admin: AdminClient, broker: BrokerProcess, topic_name: str):
    create(admin, topic_name, partitions=2)
    produce_to(broker.bootstrap, topic_name, [0, 1])
    log_dir = Path(broker.settings["log.dirs"])
    assert (log_dir / f"{topic_name}-0").is_dir()
    admin.delete_topics([topic_name])[topic_name].result(TIMEOUT)
    assert partition_count(admin, topic_name) is None
    assert not (log_dir / f"{topic_name}-0").exists()
    renamed = sorted(p.name for p in log_dir.iterdir() if p.name.startswith(topic_name + "-"))
    assert len(renamed) == 2 and all(name.endswith("-delete") for name in renamed)
    assert error_code(admin.delete_topics([topic_name])[topic_name]) == (
        KafkaError.UNKNOWN_TOPIC_OR_PART
    )
    # the name is free again, and the new topic starts empty
    create(admin, topic_name)
    assert produce_to(broker.bootstrap, topic_name, [0]) == {0: 0}


def test_describe_cluster(admin: AdminClient, broker: BrokerProcess):
    cluster = admin.describe_cluster().result(TIMEOUT)
    assert cluster.cluster_id == admin.list_topics(timeout=TIMEOUT).cluster_id
    assert cluster.cluster_id
    assert cluster.controller.id == 0
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(0, "127.0.0.1", broker.port)]


def test_topics_survive_restart(broker: BrokerProcess, topic_name: str):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, topic_name, partitions=3, **{"retention.ms": "7777777"})
    assert produce_to(broker.bootstrap, topic_name, [0, 1, 2]) == {0: 0, 1: 0, 2: 0}

    broker.restart(signal.SIGTERM)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert partition_count(admin, topic_name) == 3
    retention = topic_configs(admin, topic_name)["retention.ms"]
    assert (retention.value, retention.source) == ("7777777", DYNAMIC_TOPIC)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "restart-check",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic_name, p, 0) for p in range(3)])
    values = set()
    deadline = time.monotonic() + TIMEOUT
    while len(values) < 3 and time.monotonic() < deadline:
        values |= {m.value() for m in consumer.consume(10, timeout=0.5) if m.error() is None}
    consumer.close()
    assert values == {b"to 0", b"to 1", b"to 2"}
    assert produce_to(broker.bootstrap, topic_name, [1]) == {1: 1}
