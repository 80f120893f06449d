"""Group consumers of kafka-python and aiokafka, kafka-python's group admin, and committed
offsets across broker restarts (SIGTERM and kill -9)."""

from __future__ import annotations

import asyncio
import signal

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import NewTopic

from harness.broker import BrokerProcess

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture(scope="module")
def group_broker(tmp_path_factory: pytest.TempPathFactory):
    """A broker that starts a group's first rebalance at once."""
    with BrokerProcess(tmp_path_factory.mktemp("broker"), FAST_GROUPS) as process:
        yield process


def produce(bootstrap: str, topic: str, count: int, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    admin.close()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, b"v%d" % i, b"k%d" % i)
    assert producer.flush(30) == 0


def test_kafka_python_group_consumer_and_admin(group_broker: BrokerProcess, topic_name: str):
    produce(group_broker.bootstrap, topic_name, 900)
    group = "kp-" + topic_name
    consumer = KafkaConsumer(
        topic_name,
        bootstrap_servers=group_broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) == 900:
            break
    consumer.commit()
    positions = {tp.partition: consumer.position(tp) for tp in consumer.assignment()}
    consumer.close()
    assert sorted(values) == sorted(b"v%d" % i for i in range(900))

    admin = KafkaAdminClient(bootstrap_servers=group_broker.bootstrap)
    listed = {g["group_id"]: g["protocol_type"] for g in admin.list_groups()}
    assert listed[group] == "consumer"
    committed = admin.list_group_offsets({group: None})[group]
    described = admin.describe_groups([group])[group]
    admin.close()
    assert {tp.partition: meta.offset for tp, meta in committed.items()} == positions
    assert described["group_state"] == "Empty" and described["members"] == []
    assert sum(positions.values()) == 900


async def aiokafka_consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while len(values) < count:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for records in batches.values():
                values.extend(r.value for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


def test_aiokafka_group_consumer_commits(group_broker: BrokerProcess, topic_name: str):
    produce(group_broker.bootstrap, topic_name, 600)
    group = "aio-" + topic_name
    values = asyncio.run(aiokafka_consume(group_broker.bootstrap, topic_name, group, 600))
    assert sorted(values) == sorted(b"v%d" % i for i in range(600))
    reader = Consumer({"bootstrap.servers": group_broker.bootstrap, "group.id": group})
    committed = reader.committed([TopicPartition(topic_name, p) for p in range(3)], timeout=10)
    reader.close()
    assert sum(tp.offset for tp in committed) == 600


def commit_some(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})  # fmt: skip
    consumer.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
    )
    consumer.close()


def committed(bootstrap: str, topic: str, group: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
    consumer.close()
    return {tp.partition: tp.offset for tp in found}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_committed_offsets_survive_restart(tmp_path, topic_name: str, sig: int):
    with BrokerProcess(tmp_path / "broker", FAST_GROUPS) as broker:
        produce(broker.bootstrap, topic_name, 300)
        groups = {f"g{i}-{topic_name}": {0: 10 + i, 1: 20 + i, 2: 30 + i} for i in range(5)}
        for group, offsets in groups.items():
            commit_some(broker.bootstrap, topic_name, group, offsets)
        # a second commit for one group replaces its first
        last = next(iter(groups))
        groups[last] = {0: 77, 1: 88, 2: 99}
        commit_some(broker.bootstrap, topic_name, last, groups[last])
        broker.restart(sig)
        for group, offsets in groups.items():
            assert committed(broker.bootstrap, topic_name, group, 3) == offsets


def test_kafka_python_seek_and_commit_by_partition(group_broker: BrokerProcess, topic_name):
    produce(group_broker.bootstrap, topic_name, 100, partitions=1)
    group = "seek-" + topic_name
    consumer = KafkaConsumer(bootstrap_servers=group_broker.bootstrap, group_id=group,
                             enable_auto_commit=False)  # fmt: skip
    tp = KafkaTopicPartition(topic_name, 0)
    consumer.assign([tp])
    consumer.seek(tp, 40)
    records = consumer.poll(timeout_ms=5000, max_records=10)[tp]
    assert [r.offset for r in records] == list(range(40, 50))
    consumer.commit()
    assert consumer.committed(tp) == 50
    consumer.close()
