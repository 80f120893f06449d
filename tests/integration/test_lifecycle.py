"""A real broker stopped by SIGTERM, SIGINT and kill -9 keeps topics and acknowledged records."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness.broker import ROOT, BrokerProcess


def produce_acknowledged(bootstrap: str, topic: str, start: int, count: int) -> list[bytes]:
    """Produce ``count`` records with acks=all; return the values the broker acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2})
    acknowledged: list[bytes] = []
    for i in range(start, start + count):
        producer.produce(
            topic,
            b"record-%d" % i,
            on_delivery=lambda err, msg: acknowledged.append(msg.value()) if err is None else None,
        )
    producer.flush(30)
    return acknowledged


def read_all(bootstrap: str, topic: str, partitions: int = 1) -> list[bytes]:
    """Every value in ``topic`` up to the current end offsets."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        values: list[bytes] = []
        while sum(ends.values()) > len(values):
            for message in consumer.consume(1000, timeout=1.0):
                assert message.error() is None, message.error()
                values.append(message.value())
        return values
    finally:
        consumer.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_signal_exits_zero_and_keeps_data(fresh_broker: BrokerProcess, topic_name, sig):
    acknowledged = produce_acknowledged(fresh_broker.bootstrap, topic_name, 0, 2000)
    assert len(acknowledged) == 2000
    assert fresh_broker.stop(sig) == 0
    fresh_broker.start()
    assert sorted(read_all(fresh_broker.bootstrap, topic_name)) == sorted(acknowledged)


def test_kill_9_keeps_every_acknowledged_record(fresh_broker: BrokerProcess, topic_name):
    acknowledged = produce_acknowledged(fresh_broker.bootstrap, topic_name, 0, 3000)
    fresh_broker.restart(signal.SIGKILL)
    acknowledged += produce_acknowledged(fresh_broker.bootstrap, topic_name, 3000, 3000)
    fresh_broker.restart(signal.SIGKILL)
    assert len(acknowledged) == 6000
    assert sorted(read_all(fresh_broker.bootstrap, topic_name)) == sorted(acknowledged)
    fresh_broker.restart(signal.SIGTERM)
    assert sorted(read_all(fresh_broker.bootstrap, topic_name)) == sorted(acknowledged)


def test_unknown_config_key_stops_the_broker_naming_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli", "broker", "start", "--config",
         str(ROOT / "configs" / "broker.toml"), "--set", "log.dirz=/nowhere",
         "--set", f"log.dirs={tmp_path}"],
        cwd=ROOT, capture_output=True, timeout=30, text=True,
    )
    assert done.returncode != 0
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "log.dirz" in lines[0]


def test_bad_config_value_stops_the_broker_naming_it(tmp_path):
    config = tmp_path / "broker.toml"
    default = (ROOT / "configs" / "broker.toml").read_text()
    assert '"num.partitions" = 1' in default
    config.write_text(default.replace('"num.partitions" = 1', '"num.partitions" = -3'))
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli", "broker", "start", "--config", str(config),
         "--set", f"log.dirs={tmp_path / 'data'}"],
        cwd=ROOT, capture_output=True, timeout=30, text=True,
    )
    assert done.returncode != 0
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and "num.partitions" in lines[0], lines
