"""confluent-kafka (librdkafka 2.x) against a real Rillet broker: admin, produce, consume."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from harness.broker import BrokerProcess

BASE_TIMESTAMP = 1_700_000_000_000


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create a topic with confluent-kafka's admin client and wait for the result."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=15)


def consume_assigned(
    bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 60.0
) -> list:
    """Every message of ``topic`` read with assign() from the beginning, in arrival order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-with-assign",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                if message.error():
                    raise KafkaException(message.error())
                messages.append(message)
    finally:
        consumer.close()
    return messages


def test_admin_produce_consume_keys_headers_lz4_acks_all(broker: BrokerProcess, topic_name: str):
    create_topic(broker.bootstrap, topic_name, 3)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 5,
        }
    )
    count = 20_000
    sent: list[tuple[bytes, bytes, list, int]] = []
    delivered: dict[bytes, tuple[int, int]] = {}
    errors = []

    def on_delivery(err, message) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered[message.key()] = (message.partition(), message.offset())

    for i in range(count):
        key = b"key-%06d" % i
        value = b"value-%06d-" % i + bytes(80)
        headers = [("seq", str(i).encode()), ("kind", b"even" if i % 2 == 0 else b"odd")]
        timestamp = BASE_TIMESTAMP + i
        producer.produce(
            topic_name, value, key, headers=headers, timestamp=timestamp, on_delivery=on_delivery
        )
        sent.append((key, value, headers, timestamp))
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    assert len(delivered) == count
    assert {partition for partition, _ in delivered.values()} == {0, 1, 2}

    messages = consume_assigned(broker.bootstrap, topic_name, 3, count)
    assert len(messages) == count
    by_key = {m.key(): m for m in messages}
    for key, value, headers, timestamp in sent:
        message = by_key[key]
        assert message.value() == value
        assert message.headers() == headers
        assert message.timestamp()[1] == timestamp
        assert (message.partition(), message.offset()) == delivered[key]

    produced_order: dict[int, list[bytes]] = defaultdict(list)
    for key, *_ in sent:
        produced_order[delivered[key][0]].append(key)
    consumed_order: dict[int, list[bytes]] = defaultdict(list)
    for message in messages:
        consumed_order[message.partition()].append(message.key())
    assert consumed_order == produced_order


def test_idempotent_producer(broker: BrokerProcess, topic_name: str):
    create_topic(broker.bootstrap, topic_name, 2)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 2}
    )
    errors = []
    for i in range(5000):
        producer.produce(
            topic_name,
            b"v%d" % i,
            b"k%d" % (i % 50),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
    assert producer.flush(30) == 0
    assert errors == []
    messages = consume_assigned(broker.bootstrap, topic_name, 2, 5000)
    assert sorted(m.value() for m in messages) == sorted(b"v%d" % i for i in range(5000))


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_every_codec_round_trips(broker: BrokerProcess, topic_name: str, codec: str):
    create_topic(broker.bootstrap, topic_name, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec})
    values = [b"%s-%d-" % (codec.encode(), i) * 5 for i in range(500)]
    for value in values:
        producer.produce(topic_name, value)
    assert producer.flush(30) == 0
    messages = consume_assigned(broker.bootstrap, topic_name, 1, len(values))
    assert [m.value() for m in messages] == values
    assert [m.offset() for m in messages] == list(range(len(values)))


def test_offsets_for_times_and_watermarks(broker: BrokerProcess, topic_name: str):
    create_topic(broker.bootstrap, topic_name, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(100):
        producer.produce(topic_name, b"x", timestamp=BASE_TIMESTAMP + 10 * i)
        producer.flush(10)  # one batch per record: lookups land between batches
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lookup"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10)
        assert (low, high) == (0, 100)
        found = consumer.offsets_for_times(
            [TopicPartition(topic_name, 0, BASE_TIMESTAMP + 10 * 42 - 5)], timeout=10
        )
        assert found[0].offset == 42
        later = consumer.offsets_for_times(
            [TopicPartition(topic_name, 0, BASE_TIMESTAMP + 10_000)], timeout=10
        )
        assert later[0].offset == -1  # no record at or after that time: end (-1 from librdkafka)
    finally:
        consumer.close()


def test_metadata_lists_topics_and_partitions(broker: BrokerProcess, topic_name: str):
    create_topic(broker.bootstrap, topic_name, 4)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    metadata = admin.list_topics(timeout=10)
    assert topic_name in metadata.topics
    partitions = metadata.topics[topic_name].partitions
    assert sorted(partitions) == [0, 1, 2, 3]
    broker_ids = set(metadata.brokers)
    assert metadata.controller_id in broker_ids
    for partition in partitions.values():
        assert partition.leader in broker_ids
        assert partition.isrs == partition.replicas == [partition.leader]


def test_create_topic_errors(broker: BrokerProcess, topic_name: str):
    create_topic(broker.bootstrap, topic_name, 1)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    again = admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])
    with pytest.raises(KafkaException) as info:
        again[topic_name].result(timeout=10)
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    bad = admin.create_topics([NewTopic("bad/name", num_partitions=1, replication_factor=1)])
    with pytest.raises(KafkaException) as info:
        bad["bad/name"].result(timeout=10)
    assert info.value.args[0].code() == KafkaError.TOPIC_EXCEPTION  # Kafka error 17


def test_describe_broker_configs(broker: BrokerProcess):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource("broker", "0")
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["log.retention.ms"].value == "604800000"
    assert configs["num.partitions"].value == "1"
    assert configs["num.partitions"].is_read_only
    assert not configs["log.retention.ms"].is_read_only  # a dynamic topic default
