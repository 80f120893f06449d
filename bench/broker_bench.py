"""End-to-end broker throughput with a real Kafka client: confluent-kafka (librdkafka).

Run: ``python -m bench.broker_bench`` (starts its own broker on a free port with a temporary
data directory) or ``python -m bench.broker_bench --bootstrap host:port`` against a running
one.  Workload: 100-byte values, no keys, one partition, acks=1, lz4 off; then one consumer
reads everything back with assign().  The broker, the client and its librdkafka threads share
the machine's cores, so the figures are for the whole system, not the broker alone.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.brokers import local_broker

__all__ = ["local_broker", "produce", "consume", "run"]


def produce(bootstrap: str, topic: str, count: int, size: int, acks: str) -> float:
    """Seconds to produce ``count`` records of ``size`` bytes and have them all acknowledged."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_000_000,
            "enable.idempotence": False,
        }
    )
    value = os.urandom(size)
    failures = 0

    def on_delivery(err: object, _message: object) -> None:
        nonlocal failures
        if err is not None:
            failures += 1

    started = time.perf_counter()
    produce_one = producer.produce
    for i in range(count):
        try:
            produce_one(topic, value, partition=0, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.01)
            produce_one(topic, value, partition=0, on_delivery=on_delivery)
        if i & 0xFFFF == 0:
            producer.poll(0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise RuntimeError(f"{left} records not delivered, {failures} failed")
    return elapsed


def consume(bootstrap: str, topic: str, count: int) -> float:
    """Seconds for one consumer to read ``count`` records from offset 0 of partition 0."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-" + uuid.uuid4().hex,
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
            "queued.min.messages": 1_000_000,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    started = time.perf_counter()
    deadline = started + 300
    while seen < count and time.perf_counter() < deadline:
        seen += len(consumer.consume(num_messages=100_000, timeout=1.0))
    elapsed = time.perf_counter() - started
    consumer.close()
    if seen < count:
        raise RuntimeError(f"consumer read {seen} of {count} records")
    return elapsed


def run(bootstrap: str, count: int, size: int, acks: str) -> list[tuple[str, str]]:
    topic = "bench-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    rows = []
    seconds = produce(bootstrap, topic, count, size, acks)
    rows.append(
        (
            f"confluent-kafka producer, {count:,} x {size} B, 1 partition, acks={acks}",
            f"{count / seconds:,.0f} records/s  {count * size / seconds / 1e6:,.1f} MB/s",
        )
    )
    seconds = consume(bootstrap, topic, count)
    rows.append(
        (
            f"confluent-kafka consumer, {count:,} x {size} B, 1 partition",
            f"{count / seconds:,.0f} records/s  {count * size / seconds / 1e6:,.1f} MB/s",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1")
    args = parser.parse_args()
    if args.bootstrap:
        rows = run(args.bootstrap, args.records, args.size, args.acks)
    else:
        with local_broker() as bootstrap:
            rows = run(bootstrap, args.records, args.size, args.acks)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
