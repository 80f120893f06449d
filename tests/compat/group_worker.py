"""One consumer-group member in its own process, driven by tests/compat/test_groups.py.

Usage: python group_worker.py BOOTSTRAP TOPIC GROUP STRATEGY DIE_AFTER OUT STOPFILE

Writes JSON lines to OUT: {"event": "assign"|"revoke"|"lost", "partitions": [...], "t": ...},
{"event": "records", "items": [[partition, offset, value], ...]} and {"event": "dying"|
"closed", "t": ...}, with CLOCK_MONOTONIC times (comparable across processes). With
DIE_AFTER > 0 the member calls os._exit after that many records, without leaving its group.
"""

from __future__ import annotations

import json
import os
import sys
import time

from confluent_kafka import Consumer


def main() -> None:
    bootstrap, topic, group, strategy, die_after, out_path, stop_file = sys.argv[1:8]
    die_after_records = int(die_after)
    out = open(out_path, "a", buffering=1)

    def write(**event: object) -> None:
        event["t"] = time.monotonic()
        out.write(json.dumps(event) + "\n")

    def on_assign(consumer: Consumer, partitions: list) -> None:
        write(event="assign", partitions=[p.partition for p in partitions])

    def on_revoke(consumer: Consumer, partitions: list) -> None:
        write(event="revoke", partitions=[p.partition for p in partitions])

    def on_lost(consumer: Consumer, partitions: list) -> None:
        write(event="lost", partitions=[p.partition for p in partitions])

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "partition.assignment.strategy": strategy,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 200,
        }
    )
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    seen = 0
    while not os.path.exists(stop_file):
        messages = consumer.consume(num_messages=200, timeout=0.2)
        items = []
        for message in messages:
            if message.error() is None:
                items.append([message.partition(), message.offset(), message.value().decode()])
        if items:
            write(event="records", items=items)
            seen += len(items)
            time.sleep(0.02)  # a consumer doing work: keeps the run long enough to rebalance
        if die_after_records and seen >= die_after_records:
            write(event="dying")
            out.close()
            os._exit(1)
    consumer.close()
    write(event="closed")


if __name__ == "__main__":
    main()
