"""Reading records back with an independent client (librdkafka through confluent-kafka)."""

from __future__ import annotations

from typing import NamedTuple

from confluent_kafka import Consumer, TopicPartition


class ReadRecord(NamedTuple):
    """A record as librdkafka decoded it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int


def read_all(bootstrap: str, topic: str, partitions: int) -> list[ReadRecord]:
    """Every record of ``topic`` up to the current end offsets, in partition then offset
    order."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "sdk-reader", "enable.auto.commit": False}
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: list[ReadRecord] = []
        while len(out) < sum(ends.values()):
            messages = consumer.consume(1000, timeout=2.0)
            assert messages or len(out) < sum(ends.values())
            for m in messages:
                assert m.error() is None, m.error()
                out.append(ReadRecord(
                    m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []),
                    m.timestamp()[1],
                ))
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
