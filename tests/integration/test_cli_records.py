"""``rillet produce`` and ``rillet consume`` against a real broker.

What ``produce`` sends is read back by ``consume`` in each format and, for keys and headers,
by an independent client (librdkafka); ``consume`` positions (offset, timestamp) are checked
against records whose offsets and timestamps the test chose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import TopicPartition

from client.admin import OffsetSpec
from client.sync import Admin, Producer

from harness.broker import ROOT, BrokerProcess
from integration.cli_runner import ENV, ok, one_error_line, rillet, table_rows

# record timestamps the tests choose: recent, so that retention by time leaves them alone
BASE_MS = int(time.time() * 1000) - 3_600_000


def _create(broker: BrokerProcess, topic: str, partitions: int = 1) -> None:
    # set up in-process: the topic commands have tests of their own
    with Admin(broker.bootstrap) as admin:
        admin.create_topic(topic, num_partitions=partitions)


def _read_with_librdkafka(
    broker: BrokerProcess, topic: str, partition: int, count: int
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": "cli-check"})
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        messages = consumer.consume(count, timeout=15)
    finally:
        consumer.close()
    assert all(m.error() is None for m in messages)
    return [(m.key(), m.value(), list(m.headers() or [])) for m in messages]


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_lines_round_trip(broker: BrokerProcess, topic_name: str) -> None:
    _create(broker, topic_name)
    lines = ["first", "", "ünïcødé ✓", "tab\there", "windows line", "last"]
    stdin = "\n".join(lines[:4]).encode() + b"\n" + b"windows line\r\nlast"
    assert f"sent 6 records to {topic_name}" in ok(rillet(broker, "produce", topic_name,
                                                         stdin=stdin))
    # without --count the command stops at the end offsets it saw at start
    assert ok(rillet(broker, "consume", topic_name)).split("\n")[:-1] == lines
    assert ok(rillet(broker, "consume", topic_name, "--count", "2")).split("\n")[:-1] == lines[:2]


def test_keys_values_and_headers_in_each_format(broker: BrokerProcess, topic_name: str) -> None:
    _create(broker, topic_name, partitions=2)
    pairs = [("user-1", "clicked"), ("user-2", "left|right"), ("", "no key")]
    stdin = "".join(f"{k}|{v}\n" for k, v in pairs).encode()
    before = int(time.time() * 1000)
    ok(rillet(broker, "produce", topic_name, "--key-separator", "|", "--partition", "1",
              "--header", "source=cli", "--header", "n=2", "--acks", "1",
              "--compression", "gzip", stdin=stdin))
    after = int(time.time() * 1000)

    headers = [("source", b"cli"), ("n", b"2")]
    assert _read_with_librdkafka(broker, topic_name, 1, len(pairs)) == [
        (k.encode(), v.encode(), headers) for k, v in pairs
    ]

    args = ("consume", topic_name, "--partition", "1")
    assert ok(rillet(broker, *args)).splitlines() == [v for _, v in pairs]
    assert ok(rillet(broker, *args, "--format", "kv")).splitlines() == [
        f"{k}\t{v}" for k, v in pairs
    ]
    records = _json_lines(ok(rillet(broker, *args, "--format", "json")))
    assert [(r["topic"], r["partition"], r["offset"]) for r in records] == [
        (topic_name, 1, 0), (topic_name, 1, 1), (topic_name, 1, 2),
    ]
    assert [(r["key"], r["value"]) for r in records] == [(k, v) for k, v in pairs]
    assert all(r["headers"] == [["source", "cli"], ["n", "2"]] for r in records)
    assert all(before <= r["timestamp"] <= after for r in records)
    # partition 0 got nothing: reading it alone ends at once with no output
    assert ok(rillet(broker, "consume", topic_name, "--partition", "0")) == ""


def test_bad_input_is_a_usage_error(
    broker: BrokerProcess, topic_name: str
) -> None:
    _create(broker, topic_name)
    result = rillet(broker, "produce", topic_name, "--key-separator", ":", stdin=b"a:1\nno\n")
    assert result.returncode == 2 and b"line 2 has no key separator" in result.stderr
    result = rillet(broker, "produce", topic_name, "--partition", "1", stdin=b"a\n")
    assert result.returncode == 2 and b"has no partition 1" in result.stderr


def test_a_delivery_the_broker_refuses_is_one_error_line(
    broker: BrokerProcess, topic_name: str
) -> None:
    with Admin(broker.bootstrap) as admin:
        admin.create_topic(topic_name, configs={"max.message.bytes": "300"})
    result = rillet(broker, "produce", topic_name, "--generate", "5", "--size", "500")
    assert result.returncode == 1
    last = result.stderr.decode().strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("rillet: MESSAGE_TOO_LARGE: ") and "5 records not delivered" in last
    assert b"Traceback" not in result.stderr


def test_generated_load(broker: BrokerProcess, topic_name: str) -> None:
    _create(broker, topic_name, partitions=3)
    result = rillet(broker, "produce", topic_name, "--generate", "3000", "--size", "64",
                    "--acks", "1", "--compression", "lz4")
    out = ok(result)
    assert re.fullmatch(r"3000 records, 0\.19 MB in [\d.]+ s: [\d,]+ records/s, [\d.]+ MB/s\n",
                        out), out
    assert "3000/3000" in result.stderr.decode()
    with Admin(broker.bootstrap) as admin:
        ends = admin.list_offsets({(topic_name, p): OffsetSpec.LATEST for p in range(3)})
    assert sum(end.offset for end in ends.values()) == 3000
    values = ok(rillet(broker, "consume", topic_name)).splitlines()
    assert len(values) == 3000
    assert all(re.fullmatch(r"[A-Za-z0-9]{64}", v) for v in values)


def _produce_timed(broker: BrokerProcess, topic: str, timestamps: list[int]) -> None:
    with Producer(broker.bootstrap) as producer:
        for i, ts in enumerate(timestamps):
            producer.send(topic, b"v%d" % i, partition=0, timestamp=ts).get(timeout=15)


def test_consume_from_an_offset_or_a_timestamp(broker: BrokerProcess, topic_name: str) -> None:
    _create(broker, topic_name)
    _produce_timed(broker, topic_name, [BASE_MS + 1_000 * (i + 1) for i in range(10)])
    args = ("consume", topic_name, "--format", "json")

    records = _json_lines(ok(rillet(broker, *args, "--from", "6")))
    assert [(r["offset"], r["value"]) for r in records] == [(i, f"v{i}") for i in range(6, 10)]
    earliest = ok(rillet(broker, "consume", topic_name, "--from", "earliest", "--count", "3"))
    assert earliest.splitlines() == ["v0", "v1", "v2"]
    assert ok(rillet(broker, "consume", topic_name, "--from", "latest")) == ""

    records = _json_lines(ok(rillet(broker, *args, "--from", f"@{BASE_MS + 4500}", "--count", "3")))
    assert [(r["offset"], r["timestamp"] - BASE_MS) for r in records] == [
        (4, 5000), (5, 6000), (6, 7000),
    ]
    exact = _json_lines(ok(rillet(broker, *args, "--from", f"@{BASE_MS + 9000}")))
    assert [r["offset"] for r in exact] == [8, 9]
    assert ok(rillet(broker, "consume", topic_name, "--from", f"@{BASE_MS + 10_001}")) == ""


def test_follow_waits_for_new_records(broker: BrokerProcess, topic_name: str) -> None:
    _create(broker, topic_name)
    ok(rillet(broker, "produce", topic_name, stdin=b"old-0\nold-1\n"))
    follower = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "consume", topic_name, "--from", "2", "--follow",
         "--count", "2", "--bootstrap", broker.bootstrap],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.5)
        assert follower.poll() is None  # at the end already, but following
        ok(rillet(broker, "produce", topic_name, stdin=b"new-2\nnew-3\nnew-4\n"))
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert out.decode().splitlines() == ["new-2", "new-3"]


def test_unknown_topic_is_one_error_line(broker: BrokerProcess, topic_name: str) -> None:
    line = one_error_line(rillet(broker, "consume", topic_name))
    assert "UNKNOWN_TOPIC_OR_PARTITION" in line and topic_name in line
    listed = table_rows(ok(rillet(broker, "topic", "list")))
    assert topic_name not in {row["topic"] for row in listed}
