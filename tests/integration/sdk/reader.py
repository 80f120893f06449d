"""Reading records back with an independent client (librdkafka through confluent-kafka)."""

from __future__ import annotations

import logging
import time
from collections import deque
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


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0) -> list[ReadRecord]:
    """Every record of ``topic`` up to the current end offsets, in partition then offset
    order.

    Fails after ``timeout`` seconds with what was read and librdkafka's last log lines,
    instead of waiting for ever on a consumer that stopped receiving.
    """
    lines: deque[str] = deque(maxlen=60)
    logger = logging.getLogger(f"sdk-reader-{topic}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = _Keep(lines)
    logger.addHandler(handler)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "sdk-reader",
            "enable.auto.commit": False,
            "debug": "consumer,cgrp,fetch,topic",
        },
        logger=logger,
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: list[ReadRecord] = []
        deadline = time.monotonic() + timeout
        while len(out) < sum(ends.values()):
            if time.monotonic() > deadline:
                got = {p: sum(1 for r in out if r.partition == p) for p in range(partitions)}
                raise AssertionError(
                    f"read {got} of {ends} records of {topic} in {timeout:g} s; librdkafka's "
                    "last lines:\n" + "\n".join(lines)
                )
            for m in consumer.consume(1000, timeout=1.0):
                assert m.error() is None, m.error()
                out.append(ReadRecord(
                    m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []),
                    m.timestamp()[1],
                ))
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
        logger.removeHandler(handler)


class _Keep(logging.Handler):
    """Keeps the formatted records in a bounded deque."""

    def __init__(self, lines: deque[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
