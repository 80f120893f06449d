"""``rillet topic`` against a real broker: create, list, describe, alter, delete.

The describe table is checked against what the test wrote (through an independent client)
and against the partition directories on the broker's disk.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer as KafkaProducer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from client.sync import Admin

from harness.broker import BrokerProcess
from integration.cli_runner import ENV, mapping, ok, one_error_line, rillet, table_rows


def _produce(broker: BrokerProcess, topic: str, counts: dict[int, int]) -> None:
    producer = KafkaProducer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=b"record-%d-%d" % (partition, i), partition=partition)
    assert producer.flush(15) == 0


def _bytes_on_disk(broker: BrokerProcess, topic: str, partition: int) -> int:
    directory = Path(broker.settings["log.dirs"]) / f"{topic}-{partition}"
    return sum(path.stat().st_size for path in directory.glob("*.log"))


def _topics(broker: BrokerProcess) -> dict[str, dict[str, str]]:
    return {row["topic"]: row for row in table_rows(ok(rillet(broker, "topic", "list")))}


def test_create_list_alter_delete(broker: BrokerProcess, topic_name: str) -> None:
    out = ok(rillet(broker, "topic", "create", topic_name, "--partitions", "3",
                    "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact"))
    assert f"created topic {topic_name} with 3 partitions" in out
    listed = _topics(broker)[topic_name]
    assert (listed["partitions"], listed["replication factor"]) == ("3", "1")
    line = one_error_line(rillet(broker, "topic", "create", topic_name))
    assert "TOPIC_ALREADY_EXISTS" in line and topic_name in line

    described = ok(rillet(broker, "topic", "describe", topic_name))
    assert mapping(described, "Config overrides") == {
        "cleanup.policy": "compact", "retention.ms": "3600000",
    }

    ok(rillet(broker, "topic", "alter", topic_name, "--partitions", "5",
              "--config", "retention.ms=7200000", "--delete-config", "cleanup.policy"))
    described = ok(rillet(broker, "topic", "describe", topic_name))
    assert [row["partition"] for row in table_rows(described, "Partitions")] == [
        "0", "1", "2", "3", "4",
    ]
    assert mapping(described, "Config overrides") == {"retention.ms": "7200000"}

    assert f"deleted topic {topic_name}" in ok(rillet(broker, "topic", "delete", topic_name))
    assert topic_name not in _topics(broker)
    line = one_error_line(rillet(broker, "topic", "describe", topic_name))
    assert "UNKNOWN_TOPIC_OR_PARTITION" in line and topic_name in line


def test_describe_shows_leaders_sizes_and_offsets(broker: BrokerProcess, topic_name: str) -> None:
    ok(rillet(broker, "topic", "create", topic_name, "--partitions", "3"))
    counts = {0: 7, 1: 0, 2: 12}
    _produce(broker, topic_name, counts)
    # move partition 2's log start forward, so the earliest offset is not simply 0
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.delete_records([TopicPartition(topic_name, 2, 5)]).values():
        future.result(timeout=15)

    rows = table_rows(ok(rillet(broker, "topic", "describe", topic_name)), "Partitions")
    assert [row["partition"] for row in rows] == ["0", "1", "2"]
    for row in rows:
        partition = int(row["partition"])
        assert (row["leader"], row["replicas"], row["isr"]) == ("0", "0", "0")
        assert row["latest offset"] == str(counts[partition])
        assert row["earliest offset"] == ("5" if partition == 2 else "0")
        assert int(row["log size"]) == _bytes_on_disk(broker, topic_name, partition)
        assert (int(row["log size"]) > 0) == (counts[partition] > 0)


def test_bad_arguments_are_usage_errors(broker: BrokerProcess, topic_name: str) -> None:
    bad_pair = rillet(broker, "topic", "create", topic_name, "--config", "retention.ms")
    assert bad_pair.returncode == 2 and b"KEY=VALUE" in bad_pair.stderr
    nothing = rillet(broker, "topic", "alter", topic_name)
    assert nothing.returncode == 2 and b"nothing to alter" in nothing.stderr
    with Admin(broker.bootstrap) as admin:
        assert topic_name not in admin.list_topics()


def test_bootstrap_comes_from_the_environment(broker: BrokerProcess, topic_name: str) -> None:
    env = {**ENV, "RILLET_BOOTSTRAP": broker.bootstrap}
    ok(rillet(None, "topic", "create", topic_name, env=env))
    listed = {row["topic"]: row for row in table_rows(ok(rillet(None, "topic", "list", env=env)))}
    # created with the broker's defaults (num.partitions, default.replication.factor)
    assert (listed[topic_name]["partitions"], listed[topic_name]["replication factor"]) == (
        "1", "1",
    )
    line = one_error_line(
        rillet(None, "topic", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "1", env=env)
    )
    assert "127.0.0.1:1" in line
