"""``rillet group`` against a real broker: list, describe (members, committed offsets, lag),
reset-offsets (dry run, then for real) and delete.

Offsets are committed by an independent client (librdkafka) and by ``rillet consume
--group``; the lag shown must be the end offset minus the committed offset.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka import TopicPartition

from client.sync import Admin

from harness.broker import BrokerProcess
from integration.cli_runner import mapping, ok, one_error_line, rillet, table_rows

BASE_MS = int(time.time() * 1000) - 3_600_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker that forms groups without the initial rebalance delay."""
    process = BrokerProcess(
        tmp_path_factory.mktemp("broker"), {"group.initial.rebalance.delay.ms": "0"}
    )
    with process:
        yield process


def _topic_with(broker: BrokerProcess, topic: str, counts: dict[int, int]) -> None:
    """Create ``topic`` and write counts[p] records to partition p, the i-th stamped
    BASE_MS + 1000 * i."""
    with Admin(broker.bootstrap) as admin:
        admin.create_topic(topic, num_partitions=len(counts))
    producer = KafkaProducer({"bootstrap.servers": broker.bootstrap})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=b"%d-%d" % (partition, i), partition=partition,
                             timestamp=BASE_MS + 1000 * i)
    assert producer.flush(15) == 0


def _commit(broker: BrokerProcess, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = KafkaConsumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()


def _offsets(broker: BrokerProcess, group: str) -> dict[int, dict[str, str]]:
    out = ok(rillet(broker, "group", "describe", group))
    return {int(row["partition"]): row for row in table_rows(out, "Offsets")}


def test_describe_shows_lag_as_end_minus_committed(broker: BrokerProcess, topic_name: str) -> None:
    group = f"{topic_name}-g"
    counts = {0: 10, 1: 6, 2: 3}
    _topic_with(broker, topic_name, counts)
    committed = {0: 4, 1: 6, 2: 1}
    _commit(broker, group, {(topic_name, p): o for p, o in committed.items()})

    out = ok(rillet(broker, "group", "describe", group))
    assert mapping(out, f"Group {group}")["state"] == "Empty"
    rows = {int(row["partition"]): row for row in table_rows(out, "Offsets")}
    assert sorted(rows) == [0, 1, 2]
    for partition, row in rows.items():
        assert int(row["committed offset"]) == committed[partition]
        assert int(row["end offset"]) == counts[partition]
        assert int(row["lag"]) == counts[partition] - committed[partition]
        assert row["member"] == "-"

    listed = {row["group"]: row for row in table_rows(ok(rillet(broker, "group", "list")))}
    assert listed[group]["state"] == "Empty" and listed[group]["members"] == "0"


def test_describe_shows_members_and_their_partitions(
    broker: BrokerProcess, topic_name: str
) -> None:
    group = f"{topic_name}-g"
    _topic_with(broker, topic_name, {0: 2, 1: 2})
    member = KafkaConsumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "client.id": "member-under-test",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    try:
        member.subscribe([topic_name])
        deadline = time.monotonic() + 20
        while len(member.assignment()) < 2 and time.monotonic() < deadline:
            member.poll(0.2)
        assert len(member.assignment()) == 2
        member.commit(offsets=[TopicPartition(topic_name, 0, 1)], asynchronous=False)

        out = ok(rillet(broker, "group", "describe", group))
        summary = mapping(out, f"Group {group}")
        assert (summary["state"], summary["protocol type"], summary["members"]) == (
            "Stable", "consumer", "1",
        )
        [row] = table_rows(out, "Members")
        assert row["client id"] == "member-under-test"
        assert "127.0.0.1" in row["host"]
        assert row["partitions"] == f"{topic_name}-0,{topic_name}-1"
        offsets = {int(r["partition"]): r for r in table_rows(out, "Offsets")}
        assert (offsets[0]["committed offset"], offsets[0]["lag"]) == ("1", "1")
        assert (offsets[1]["committed offset"], offsets[1]["lag"]) == ("-", "-")
        assert {r["client id"] for r in offsets.values()} == {"member-under-test"}

        refused = one_error_line(rillet(broker, "group", "reset-offsets", group,
                                        "--topic", topic_name, "--to", "earliest", "--execute"))
        assert "Stable" in refused
    finally:
        member.close()


def test_consume_as_a_group_commits_what_it_printed(
    broker: BrokerProcess, topic_name: str
) -> None:
    group = f"{topic_name}-g"
    _topic_with(broker, topic_name, {0: 10})
    first = ok(rillet(broker, "consume", topic_name, "--group", group, "--count", "4"))
    assert first.splitlines() == [f"0-{i}" for i in range(4)]
    row = _offsets(broker, group)[0]
    assert (row["committed offset"], row["end offset"], row["lag"]) == ("4", "10", "6")

    rest = ok(rillet(broker, "consume", topic_name, "--group", group))
    assert rest.splitlines() == [f"0-{i}" for i in range(4, 10)]
    assert _offsets(broker, group)[0]["lag"] == "0"


def _committed(broker: BrokerProcess, group: str) -> dict[int, int]:
    with Admin(broker.bootstrap) as admin:
        return {p: offset for (_, p), offset in admin.list_group_offsets(group).items()}


def test_reset_offsets_plans_then_executes(broker: BrokerProcess, topic_name: str) -> None:
    group = f"{topic_name}-g"
    _topic_with(broker, topic_name, {0: 10, 1: 10})
    _commit(broker, group, {(topic_name, 0): 8, (topic_name, 1): 9})
    reset = ("group", "reset-offsets", group, "--topic", topic_name)

    plan = ok(rillet(broker, *reset, "--to", "earliest"))
    rows = table_rows(plan, f"Group {group}, topic {topic_name}")
    assert [(r["partition"], r["current offset"], r["new offset"]) for r in rows] == [
        ("0", "8", "0"), ("1", "9", "0"),
    ]
    assert "dry run" in plan
    assert _committed(broker, group) == {0: 8, 1: 9}

    ok(rillet(broker, *reset, "--to", "3", "--execute"))
    assert _committed(broker, group) == {0: 3, 1: 3}
    # the i-th record is stamped BASE_MS + 1000 * i: 5500 ms in is offset 6
    ok(rillet(broker, *reset, "--to", f"@{BASE_MS + 5500}", "--partition", "1", "--execute"))
    # an offset past the end is kept at the end
    ok(rillet(broker, *reset, "--to", "99", "--partition", "0", "--execute"))
    assert _committed(broker, group) == {0: 10, 1: 6}


def test_delete_group(broker: BrokerProcess, topic_name: str) -> None:
    group = f"{topic_name}-g"
    _topic_with(broker, topic_name, {0: 3})
    _commit(broker, group, {(topic_name, 0): 2})
    assert f"deleted group {group}" in ok(rillet(broker, "group", "delete", group))
    with Admin(broker.bootstrap) as admin:
        assert group not in {g.group_id for g in admin.list_groups()}
    line = one_error_line(rillet(broker, "group", "describe", group))
    assert "GROUP_ID_NOT_FOUND" in line and group in line
    again = one_error_line(rillet(broker, "group", "delete", group))
    assert "GROUP_ID_NOT_FOUND" in again
