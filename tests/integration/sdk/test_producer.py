"""The SDK producer against a real broker, records read back with librdkafka."""

from __future__ import annotations

import pytest
import trio
from kafka import KafkaProducer

from client import Admin, NewTopic, Producer
from client.errors import InvalidTopicError, KafkaError
from client.records import murmur2_partition
from harness.broker import BrokerProcess
from integration.sdk.reader import read_all


async def create(broker: BrokerProcess, name: str, partitions: int, **configs: str) -> None:
    async with Admin(broker.bootstrap) as admin:
        await admin.create_topics([NewTopic(name, partitions, 1, configs)])


async def test_send_delivers_with_offsets_keys_headers(
    broker: BrokerProcess, topic_name: str
) -> None:
    await create(broker, topic_name, 3)
    async with Producer(broker.bootstrap) as producer:
        futures = [
            await producer.send(topic_name, b"v%d" % i, key=b"key-%d" % (i % 5),
                                headers=[("n", b"%d" % i)])
            for i in range(300)
        ]
        stamped = await producer.send_and_wait(topic_name, b"ts", partition=1, timestamp=1_000_000)
        await producer.flush()
    results = [f.result() for f in futures]
    records = read_all(broker.bootstrap, topic_name, 3)
    by_position = {(r.partition, r.offset): r for r in records}
    assert len(records) == 301
    for i, meta in enumerate(results):
        record = by_position[(meta.partition, meta.offset)]
        assert record.value == b"v%d" % i and record.key == b"key-%d" % (i % 5)
        assert record.headers == [("n", b"%d" % i)]
        assert meta.partition == murmur2_partition(b"key-%d" % (i % 5), 3)
    assert by_position[(1, stamped.offset)].timestamp == 1_000_000


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
async def test_compression_codecs(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    await create(broker, topic_name, 1)
    async with Producer(broker.bootstrap, compression_type=codec, linger_ms=20) as producer:
        futures = [await producer.send(topic_name, b"payload %d " % i * 10) for i in range(500)]
        await producer.flush()
    assert [f.result().offset for f in futures] == list(range(500))
    values = [r.value for r in read_all(broker.bootstrap, topic_name, 1)]
    assert values == [b"payload %d " % i * 10 for i in range(500)]


@pytest.mark.parametrize("acks", [0, 1, "all"])
async def test_acks(broker: BrokerProcess, topic_name: str, acks: object) -> None:
    await create(broker, topic_name, 1)
    async with Producer(broker.bootstrap, acks=acks) as producer:
        futures = [await producer.send(topic_name, b"%d" % i) for i in range(100)]
        await producer.flush()
    offsets = [f.result().offset for f in futures]
    assert offsets == ([-1] * 100 if acks == 0 else list(range(100)))
    with trio.fail_after(10):
        while len(read_all(broker.bootstrap, topic_name, 1)) < 100:
            await trio.sleep(0.1)


async def test_keys_land_where_kafka_python_puts_them(
    broker: BrokerProcess, topic_name: str
) -> None:
    """Partitioner vectors: the same keys through kafka-python's default partitioner and ours,
    to one 6-partition topic, give the same partitions."""
    await create(broker, topic_name, 6)
    keys = [b"", b"a", b"kafka", b"1234", b"giberish123456789", b"\xff\x00\x10"] + [
        b"user-%d" % i for i in range(200)
    ]
    theirs = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        expected = [
            theirs.send(topic_name, key=k, value=b"kp").get(timeout=30).partition for k in keys
        ]
    finally:
        theirs.close()
    async with Producer(broker.bootstrap) as producer:
        ours = [(await producer.send_and_wait(topic_name, b"sdk", key=k)).partition for k in keys]
    assert ours == expected
    assert len(set(ours)) == 6


async def test_sticky_partitioning_spreads_keyless_batches(
    broker: BrokerProcess, topic_name: str
) -> None:
    await create(broker, topic_name, 4)
    async with Producer(broker.bootstrap, batch_size=2000, linger_ms=50) as producer:
        futures = [await producer.send(topic_name, b"x" * 100) for _ in range(400)]
        await producer.flush()
    partitions = [f.result().partition for f in futures]
    switches = sum(1 for a, b in zip(partitions, partitions[1:]) if a != b)
    assert set(partitions) == {0, 1, 2, 3}
    assert switches < len(partitions) / 10  # whole batches go to one partition


async def test_auto_created_topic_and_serializers(broker: BrokerProcess, topic_name: str) -> None:
    options = {"value_serializer": str.encode, "key_serializer": str.encode}
    async with Producer(broker.bootstrap, **options) as producer:
        meta = await producer.send_and_wait(topic_name, "hello", key="k")
    assert meta.offset == 0
    record = read_all(broker.bootstrap, topic_name, 1)[0]
    assert (record.key, record.value) == (b"k", b"hello")


async def test_invalid_topic_is_a_clear_error(broker: BrokerProcess) -> None:
    async with Producer(broker.bootstrap, max_block_ms=5000) as producer:
        with pytest.raises(KafkaError) as info:
            await producer.send("bad topic name!", b"x")
    assert isinstance(info.value, InvalidTopicError) or "TOPIC" in info.value.name


async def test_many_records_flush_and_close(broker: BrokerProcess, topic_name: str) -> None:
    await create(broker, topic_name, 2)
    producer = Producer(broker.bootstrap, linger_ms=5)
    await producer.start()
    assert await producer.wait_for_topic(topic_name) == [0, 1]
    futures = [producer.send_nowait(topic_name, b"%06d" % i, partition=i % 2)
               for i in range(20_000)]
    await producer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    records = read_all(broker.bootstrap, topic_name, 2)
    for partition in (0, 1):
        values = [r.value for r in records if r.partition == partition]
        assert values == [b"%06d" % i for i in range(partition, 20_000, 2)]


def test_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="'linger' \\(did you mean 'linger_ms'\\?\\)"):
        Producer("127.0.0.1:9092", linger=5)
    with pytest.raises(ValueError, match="acks"):
        Producer("127.0.0.1:9092", acks=2)
