"""aiokafka (asyncio) against a real Rillet broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from harness.broker import BrokerProcess


async def produce_and_consume(bootstrap: str, topic: str, count: int) -> list:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="lz4", acks="all")
    await producer.start()
    try:
        batch_results = [
            await producer.send(topic, value=b"aio-%d" % i, key=b"%d" % (i % 7))
            for i in range(count // 2)
        ]
        pending = [
            await producer.send(topic, value=b"aio-%d" % i, key=b"%d" % (i % 7))
            for i in range(count // 2, count)
        ]
        batch_results += await asyncio.gather(*pending)
    finally:
        await producer.stop()
    assert len(batch_results) == count

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        records = []
        while len(records) < count:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def test_aiokafka_produce_and_consume(broker: BrokerProcess, topic_name: str):
    records = asyncio.run(produce_and_consume(broker.bootstrap, topic_name, 2000))
    assert sorted(r.value for r in records) == sorted(b"aio-%d" % i for i in range(2000))
    for record in records:
        assert record.key == b"%d" % (int(record.value[4:]) % 7)
