"""The SDK consumer against a real broker process: groups, commits, seeks, pause, and groups
shared with confluent-kafka consumers under the eager and cooperative protocols."""

from __future__ import annotations

import time

import pytest
import trio

from client.consumer import Consumer, OffsetAndTimestamp, TopicPartition as TP
from harness.broker import BrokerProcess
from integration.consumer.peers import (
    ConfluentMember,
    LoggingListener,
    OwnershipLog,
    create_topic,
    produce,
)

FAST = dict(heartbeat_interval_ms=300, session_timeout_ms=10000, fetch_max_wait_ms=100,
            retry_backoff_ms=50)
WAIT = 60  # seconds: a first join may sit out the broker's initial rebalance delay


async def setup_topic(broker: BrokerProcess, topic: str, partitions: int, per_partition: int,
                      timestamp: int | None = None) -> None:
    await trio.to_thread.run_sync(create_topic, broker.bootstrap, topic, partitions)
    if per_partition:
        await add_records(broker, topic, partitions, per_partition, 0, timestamp)


async def add_records(broker: BrokerProcess, topic: str, partitions: int, count: int,
                      first: int, timestamp: int | None = None) -> None:
    records = [
        (p, b"%d-%d" % (p, first + i), None if timestamp is None else timestamp + first + i)
        for p in range(partitions) for i in range(count)
    ]
    await trio.to_thread.run_sync(produce, broker.bootstrap, topic, records)


async def consume(consumer: Consumer, count: int, timeout: float = WAIT) -> list:
    got: list = []
    with trio.fail_after(timeout):
        while len(got) < count:
            got += await consumer.poll(timeout_ms=200)
    return got


async def test_subscribe_poll_commit_and_restart_resumes_from_committed(
    broker: BrokerProcess, topic_name: str
) -> None:
    await setup_topic(broker, topic_name, 3, 5)
    options = dict(bootstrap_servers=broker.bootstrap, group_id=topic_name + "-g",
                   auto_offset_reset="earliest", enable_auto_commit=False, **FAST)
    async with Consumer(topic_name, **options) as consumer:
        records = await consume(consumer, 15)
        assert sorted((r.partition, r.offset) for r in records) == [
            (p, o) for p in range(3) for o in range(5)
        ]
        assert {r.value for r in records} == {b"%d-%d" % (p, i) for p in range(3) for i in range(5)}
        await consumer.commit()
        assert await consumer.committed(TP(topic_name, 2)) == 5
    await add_records(broker, topic_name, 3, 2, 5)
    async with Consumer(topic_name, **options) as consumer:
        records = await consume(consumer, 6)
        assert sorted((r.partition, r.offset) for r in records) == [
            (p, o) for p in range(3) for o in (5, 6)
        ]
        assert await consumer.poll(timeout_ms=500) == []


async def test_assign_seek_beginning_end_and_timestamps(
    broker: BrokerProcess, topic_name: str
) -> None:
    base = 1_700_000_000_000
    await setup_topic(broker, topic_name, 1, 10, timestamp=base)
    tp = TP(topic_name, 0)
    async with Consumer(bootstrap_servers=broker.bootstrap, **FAST) as consumer:
        consumer.assign([tp])
        assert await consumer.position(tp) == 10  # latest by default
        consumer.seek_to_beginning(tp)
        assert await consumer.position(tp) == 0
        records = await consume(consumer, 10)
        assert [r.offset for r in records] == list(range(10))
        assert [r.timestamp for r in records] == [base + i for i in range(10)]
        consumer.seek_to_end()
        assert await consumer.position(tp) == 10
        found = await consumer.offsets_for_times({tp: base + 6})
        assert found == {tp: OffsetAndTimestamp(6, base + 6, found[tp].leader_epoch)}
        assert (await consumer.offsets_for_times({tp: base + 100}))[tp] is None
        consumer.seek(tp, found[tp].offset)
        assert [r.offset for r in await consume(consumer, 4)] == [6, 7, 8, 9]
        assert await consumer.beginning_offsets([tp]) == {tp: 0}
        assert await consumer.end_offsets([tp]) == {tp: 10}
        assert consumer.highwater(tp) == 10


async def test_pause_and_resume(broker: BrokerProcess, topic_name: str) -> None:
    await setup_topic(broker, topic_name, 2, 3)
    p0, p1 = TP(topic_name, 0), TP(topic_name, 1)
    async with Consumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                        **FAST) as consumer:
        consumer.assign([p0, p1])
        consumer.pause(p0)
        records = await consume(consumer, 3)
        records += await consumer.poll(timeout_ms=1000)
        assert {r.partition for r in records} == {1} and len(records) == 3
        consumer.resume(p0)
        assert [(r.partition, r.offset) for r in await consume(consumer, 3)] == [
            (0, 0), (0, 1), (0, 2)
        ]


async def test_auto_commit_commits_what_was_processed(
    broker: BrokerProcess, topic_name: str
) -> None:
    await setup_topic(broker, topic_name, 1, 4)
    tp = TP(topic_name, 0)
    group = topic_name + "-g"
    async with Consumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=group,
                        auto_offset_reset="earliest", auto_commit_interval_ms=100,
                        **FAST) as consumer:
        assert len(await consume(consumer, 4)) == 4
        await consumer.poll(timeout_ms=0)  # the four are processed now
        with trio.fail_after(WAIT):
            while await consumer.committed(tp) != 4:
                await trio.sleep(0.1)
    async with Consumer(bootstrap_servers=broker.bootstrap, group_id=group,
                        enable_auto_commit=False, **FAST) as other:
        assert await other.committed(tp) == 4


async def test_rebalance_callbacks_hand_partitions_over(
    broker: BrokerProcess, topic_name: str
) -> None:
    await setup_topic(broker, topic_name, 4, 2)
    log = OwnershipLog()
    options = dict(bootstrap_servers=broker.bootstrap, group_id=topic_name + "-g",
                   auto_offset_reset="earliest", **FAST)
    everything = {TP(topic_name, p) for p in range(4)}
    async with Consumer(**options) as a:
        a.subscribe([topic_name], listener=LoggingListener("a", log))
        await consume(a, 8)
        assert a.assignment() == everything
        async with Consumer(**options) as b:
            b.subscribe([topic_name], listener=LoggingListener("b", log))
            with trio.fail_after(WAIT):
                while len(a.assignment()) != 2 or len(b.assignment()) != 2:
                    await a.poll(timeout_ms=50)
                    await b.poll(timeout_ms=50)
        with trio.fail_after(WAIT):
            while a.assignment() != everything:
                await a.poll(timeout_ms=50)
    kinds = [(member, kind) for _, member, kind, _ in sorted(log.events)]
    assert kinds[:2] == [("a", "assigned"), ("a", "revoked")]
    assert log.check() == {}  # everyone revoked on close


async def _run_mixed_group(
    broker: BrokerProcess, topic: str, sdk_strategy: tuple[str, ...], ck_strategy: str
) -> OwnershipLog:
    partitions = 6
    await setup_topic(broker, topic, partitions, 20)
    log = OwnershipLog()
    group = topic + "-g"
    everything = {TP(topic, p) for p in range(partitions)}
    options = dict(bootstrap_servers=broker.bootstrap, group_id=group,
                   auto_offset_reset="earliest", partition_assignment_strategy=sdk_strategy,
                   **FAST)
    seen: list[bytes] = []
    ck_members: list[ConfluentMember] = []
    async with Consumer(**options) as s1, Consumer(**options) as s2:
        sdk = {"sdk-1": s1, "sdk-2": s2}
        s1.subscribe([topic], listener=LoggingListener("sdk-1", log))

        async def settle(expected_members: int) -> None:
            with trio.fail_after(WAIT):
                while True:
                    for consumer in sdk.values():
                        seen.extend(r.value for r in await consumer.poll(timeout_ms=50))
                    owned = [c.assignment() for c in sdk.values()] + [
                        m.assignment for m in ck_members
                    ]
                    holders = sum(1 for o in owned if o)
                    if holders == min(expected_members, partitions) and set().union(*owned) == (
                        everything
                    ) and sum(len(o) for o in owned) == partitions:
                        return

        await settle(1)
        ck_members.append(ConfluentMember("ck-1", broker.bootstrap, group, topic, ck_strategy,
                                          log).start())
        await settle(2)
        s2.subscribe([topic], listener=LoggingListener("sdk-2", log))
        await settle(3)
        ck_members.append(ConfluentMember("ck-2", broker.bootstrap, group, topic, ck_strategy,
                                          log).start())
        await settle(4)
        await add_records(broker, topic, partitions, 5, 20)
        with trio.fail_after(WAIT):
            while len(set(seen) | {v for m in ck_members for v in m.values}) < partitions * 25:
                for consumer in sdk.values():
                    seen.extend(r.value for r in await consumer.poll(timeout_ms=50))
        await trio.to_thread.run_sync(ck_members.pop(0).stop)
        await settle(3)
        owners = log.check()
        assert set(owners) == everything
        assert set(owners.values()) == {"sdk-1", "sdk-2", "ck-2"}
    await trio.to_thread.run_sync(ck_members.pop().stop)
    return log


async def test_mixed_group_with_confluent_kafka_eager(
    broker: BrokerProcess, topic_name: str
) -> None:
    log = await _run_mixed_group(broker, topic_name, ("range", "roundrobin"), "range,roundrobin")
    # eager: every rebalance starts with each member giving up everything it holds
    assert any(kind == "revoked" and len(parts) > 1 for _, _, kind, parts in log.events)


async def test_mixed_group_with_confluent_kafka_cooperative(
    broker: BrokerProcess, topic_name: str
) -> None:
    log = await _run_mixed_group(broker, topic_name, ("cooperative-sticky",), "cooperative-sticky")
    # cooperative: when members join, the first member keeps part of what it had
    first = [e for e in sorted(log.events) if e[1] == "sdk-1"]
    revoked_before_end = [parts for _, _, kind, parts in first[:-1] if kind == "revoked"]
    assert revoked_before_end and all(len(parts) < 6 for parts in revoked_before_end)


def test_ownership_log_orders_events_and_catches_double_ownership() -> None:
    # the ownership check orders events from trio tasks and confluent-kafka threads alike
    log = OwnershipLog()
    log.record("x", "assigned", [TP("t", 0)])
    time.sleep(0.001)
    log.record("x", "revoked", [TP("t", 0)])
    log.record("y", "assigned", [TP("t", 0)])
    assert log.check() == {TP("t", 0): "y"}
    log.record("z", "assigned", [TP("t", 0)])
    with pytest.raises(AssertionError, match="while y owned it"):
        log.check()


def test_blocking_facade_wraps_the_consumer(broker: BrokerProcess, topic_name: str) -> None:
    from client.sync import Consumer as BlockingConsumer

    create_topic(broker.bootstrap, topic_name, 2)
    produce(broker.bootstrap, topic_name, [(p, b"%d" % p, None) for p in range(2)])
    with BlockingConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                          consumer_timeout_ms=2000) as consumer:
        consumer.assign([(topic_name, 0), (topic_name, 1)])
        assert sorted((r.partition, r.value) for r in consumer) == [(0, b"0"), (1, b"1")]
        assert consumer.position((topic_name, 1)) == 1
        consumer.seek_to_beginning((topic_name, 0))
        assert [r.offset for r in consumer.poll(timeout_ms=5000)] == [0]
