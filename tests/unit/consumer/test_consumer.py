"""Whole consumers against the fake broker: assign, subscribe, commit and resume, seek,
pause, auto-commit, and rebalances under the eager and cooperative protocols."""

from __future__ import annotations

import pytest
import trio

from client.consumer import (
    CommitFailedError,
    Consumer,
    ConsumerStoppedError,
    OffsetAndTimestamp,
    RebalanceListener,
    TopicPartition as TP,
)
from client.protocol import ApiKey
from client.records import build_batch
from unit.consumer.fake_group import FakeGroupBroker
from unit.sdk.fake_broker import FakeBroker

FAST = dict(
    heartbeat_interval_ms=50, session_timeout_ms=2000, fetch_max_wait_ms=50,
    retry_backoff_ms=20, request_timeout_ms=5000, rebalance_timeout_ms=2000,
)


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeGroupBroker:
    broker = await FakeBroker().start(nursery)
    group = FakeGroupBroker(broker)
    group.nursery = nursery
    broker.state.add_topic("t", 4)
    return group


def produce(fake: FakeGroupBroker, partition: int, count: int, start_ts: int = 1000) -> None:
    end = fake.state.next_offset[("t", partition)]
    fake.append("t", partition, build_batch(
        [b"p%d-%d" % (partition, end + i) for i in range(count)],
        timestamps=[start_ts + i for i in range(count)],
    ))


async def consume(consumer: Consumer, count: int, timeout: float = 10) -> list:
    got: list = []
    with trio.fail_after(timeout):
        while len(got) < count:
            got += await consumer.poll(timeout_ms=100)
    return got


class Recorder(RebalanceListener):
    """Keeps every callback with the time and what the member owned afterwards."""

    def __init__(self, name: str, log: list) -> None:
        self.name = name
        self.log = log
        self.owned: set[TP] = set()

    def on_partitions_revoked(self, revoked: set[TP]) -> None:
        assert revoked <= self.owned, "revoked a partition it did not own"
        self.owned -= revoked
        self.log.append((trio.current_time(), self.name, "revoked", set(revoked)))

    async def on_partitions_assigned(self, assigned: set[TP]) -> None:
        await trio.sleep(0)
        assert not (assigned & self.owned)
        self.owned |= assigned
        self.log.append((trio.current_time(), self.name, "assigned", set(assigned)))

    def on_partitions_lost(self, lost: set[TP]) -> None:
        self.owned -= lost
        self.log.append((trio.current_time(), self.name, "lost", set(lost)))


def ownership_never_overlaps(log: list) -> None:
    owners: dict[TP, str] = {}
    for _, name, kind, parts in sorted(log, key=lambda e: e[0]):
        for tp in parts:
            if kind == "assigned":
                assert tp not in owners, f"{tp} assigned to {name} while {owners.get(tp)} owns it"
                owners[tp] = name
            else:
                assert owners.pop(tp) == name


async def test_unknown_option_and_unstarted_use_fail_clearly() -> None:
    with pytest.raises(TypeError, match="bootstrap_server"):
        Consumer(bootstrap_server="x")
    consumer = Consumer(bootstrap_servers="127.0.0.1:1")
    with pytest.raises(ConsumerStoppedError, match="not started"):
        await consumer.poll()


async def test_assign_poll_and_iterate(fake: FakeGroupBroker) -> None:
    produce(fake, 1, 5)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, auto_offset_reset="earliest",
                        consumer_timeout_ms=300, **FAST) as consumer:
        consumer.assign([("t", 1)])
        records = await consume(consumer, 5)
        assert [(r.topic, r.partition, r.offset, r.value) for r in records] == [
            ("t", 1, i, b"p1-%d" % i) for i in range(5)
        ]
        assert await consumer.position(("t", 1)) == 5
        assert consumer.highwater(("t", 1)) == 5
        produce(fake, 1, 3)
        seen = [r.offset async for r in consumer]
        assert seen == [5, 6, 7]


async def test_latest_reset_skips_existing_records(fake: FakeGroupBroker) -> None:
    produce(fake, 0, 4)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, **FAST) as consumer:
        consumer.assign([TP("t", 0)])
        assert await consumer.position(TP("t", 0)) == 4
        produce(fake, 0, 1)
        assert [r.offset for r in await consume(consumer, 1)] == [4]


async def test_seek_beginning_end_and_timestamps(fake: FakeGroupBroker) -> None:
    produce(fake, 2, 10, start_ts=5000)
    tp = TP("t", 2)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, **FAST) as consumer:
        consumer.assign([tp])
        assert await consumer.position(tp) == 10
        consumer.seek_to_beginning()
        assert await consumer.position(tp) == 0
        consumer.seek(tp, 7)
        assert [r.offset for r in await consume(consumer, 3)] == [7, 8, 9]
        consumer.seek_to_end(tp)
        assert await consumer.position(tp) == 10
        found = await consumer.offsets_for_times({tp: 5004, TP("t", 3): 5000})
        assert found == {tp: OffsetAndTimestamp(4, 5004, 0), TP("t", 3): None}
        assert await consumer.beginning_offsets([tp]) == {tp: 0}
        assert await consumer.end_offsets([tp]) == {tp: 10}
        consumer.seek(tp, found[tp].offset)
        assert (await consume(consumer, 1))[0].offset == 4


async def test_pause_and_resume(fake: FakeGroupBroker) -> None:
    produce(fake, 0, 3)
    produce(fake, 1, 3)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, auto_offset_reset="earliest",
                        **FAST) as consumer:
        consumer.assign([TP("t", 0), TP("t", 1)])
        consumer.pause(TP("t", 0))
        assert consumer.paused() == {TP("t", 0)}
        records = await consume(consumer, 3)
        await trio.sleep(0.2)
        records += await consumer.poll(timeout_ms=100)
        assert {r.partition for r in records} == {1} and len(records) == 3
        consumer.resume(TP("t", 0))
        assert [r.offset for r in await consume(consumer, 3)] == [0, 1, 2]


async def test_group_commit_and_restart_resume_from_committed(fake: FakeGroupBroker) -> None:
    for p in range(4):
        produce(fake, p, 5)
    options = dict(bootstrap_servers=fake.broker.bootstrap, group_id="g1",
                   auto_offset_reset="earliest", enable_auto_commit=False, **FAST)
    async with Consumer("t", **options) as consumer:
        records = await consume(consumer, 20)
        assert sorted((r.partition, r.offset) for r in records) == [
            (p, o) for p in range(4) for o in range(5)
        ]
        await consumer.commit()
        assert await consumer.committed(TP("t", 3)) == 5
        consumer.seek(TP("t", 0), 2)
        await consumer.commit({TP("t", 0): 3})
        assert (await consumer.committed(TP("t", 0), metadata=True)).offset == 3
    for p in range(4):
        produce(fake, p, 1)
    async with Consumer("t", **options) as consumer:
        records = await consume(consumer, 6)
        assert sorted((r.partition, r.offset) for r in records) == [
            (0, 3), (0, 4), (0, 5), (1, 5), (2, 5), (3, 5)
        ]


async def test_auto_commit_stores_what_the_previous_poll_returned(fake: FakeGroupBroker) -> None:
    produce(fake, 0, 4)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, group_id="g-auto",
                        auto_offset_reset="earliest", auto_commit_interval_ms=50,
                        **FAST) as consumer:
        consumer.assign([TP("t", 0)])
        assert len(await consume(consumer, 4)) == 4
        await trio.sleep(0.3)
        # the records are still being processed: nothing past them is committed
        assert fake.group("g-auto").offsets.get(("t", 0), (0,))[0] == 0
        await consumer.poll(timeout_ms=0)
        await trio.sleep(0.3)
        assert fake.group("g-auto").offsets[("t", 0)][0] == 4


@pytest.mark.parametrize("strategy", [("range",), ("roundrobin",), ("cooperative-sticky",)])
async def test_two_members_share_partitions_without_overlap(
    fake: FakeGroupBroker, nursery: trio.Nursery, strategy: tuple[str, ...]
) -> None:
    for p in range(4):
        produce(fake, p, 3)
    log: list = []
    a_listener, b_listener = Recorder("a", log), Recorder("b", log)
    options = dict(bootstrap_servers=fake.broker.bootstrap, group_id="g-" + strategy[0],
                   auto_offset_reset="earliest", partition_assignment_strategy=strategy, **FAST)
    async with Consumer(**options) as a:
        a.subscribe(["t"], listener=a_listener)
        await consume(a, 12)
        assert a.assignment() == {TP("t", p) for p in range(4)}
        async with Consumer(**options) as b:
            b.subscribe(["t"], listener=b_listener)
            with trio.fail_after(10):
                while len(a.assignment()) != 2 or len(b.assignment()) != 2:
                    await a.poll(timeout_ms=20)
                    await b.poll(timeout_ms=20)
            assert a.assignment() | b.assignment() == {TP("t", p) for p in range(4)}
            for p in range(4):
                produce(fake, p, 1)
            got = await consume(a, 2) + await consume(b, 2)
            assert sorted((r.partition, r.offset) for r in got) == [(p, 3) for p in range(4)]
        with trio.fail_after(10):
            while len(a.assignment()) != 4:
                await a.poll(timeout_ms=20)
    ownership_never_overlaps(log)
    a_revoked = [e[3] for e in log if e[1] == "a" and e[2] == "revoked"]
    if strategy == ("cooperative-sticky",):
        # only what moved to b was revoked; a never gave up everything
        assert all(len(r) == 2 for r in a_revoked[:1])
    else:
        assert a_revoked[0] == {TP("t", p) for p in range(4)}


async def test_commit_after_losing_membership_fails(fake: FakeGroupBroker) -> None:
    async with Consumer("t", bootstrap_servers=fake.broker.bootstrap, group_id="g-lost",
                        enable_auto_commit=False, **FAST) as consumer:
        with trio.fail_after(10):
            while not consumer.assignment():
                await consumer.poll(timeout_ms=20)
        group = fake.group("g-lost")
        group.members.clear()  # the coordinator expired the member
        group.generation += 1
        with pytest.raises(CommitFailedError):
            await consumer.commit({TP("t", 0): 0})
        with trio.fail_after(10):
            while consumer.generation_id != group.generation or not consumer.assignment():
                await consumer.poll(timeout_ms=20)


async def test_close_is_quiet_idempotent_and_final(
    fake: FakeGroupBroker, caplog: pytest.LogCaptureFixture
) -> None:
    produce(fake, 0, 3)
    consumer = Consumer("t", bootstrap_servers=fake.broker.bootstrap, group_id="g-close",
                        auto_offset_reset="earliest", **FAST)
    await consumer.start()
    await consume(consumer, 3)
    await consumer.close()
    await consumer.close()
    assert consumer.closed
    with pytest.raises(ConsumerStoppedError, match="closed"):
        await consumer.poll()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    # closing committed the consumed positions and left the group
    assert fake.group("g-close").offsets[("t", 0)][0] == 3
    assert not fake.group("g-close").members


async def test_subscribe_without_group_takes_every_partition(fake: FakeGroupBroker) -> None:
    produce(fake, 3, 2)
    log: list = []
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, auto_offset_reset="earliest",
                        value_deserializer=bytes.decode, **FAST) as consumer:
        consumer.subscribe(["t"], listener=Recorder("solo", log))
        records = await consume(consumer, 2)
        assert [r.value for r in records] == ["p3-0", "p3-1"]
        assert consumer.assignment() == {TP("t", p) for p in range(4)}
        with pytest.raises(Exception, match="group_id"):
            await consumer.commit()
    assert log[0][2] == "assigned" and len(log[0][3]) == 4


async def test_pattern_subscription_follows_new_topics(fake: FakeGroupBroker) -> None:
    fake.state.add_topic("orders.eu", 1)
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, group_id="g-pattern",
                        auto_offset_reset="earliest", **FAST) as consumer:
        consumer.subscribe(pattern=r"orders\..*")
        with trio.fail_after(10):
            while consumer.assignment() != {TP("orders.eu", 0)}:
                await consumer.poll(timeout_ms=20)
        fake.state.add_topic("orders.us", 2)
        with trio.fail_after(10):
            while len(consumer.assignment()) != 3:
                await consumer.poll(timeout_ms=20)
        assert consumer.subscription() == {"orders.eu", "orders.us"}


async def test_unsubscribe_revokes_and_leaves(fake: FakeGroupBroker) -> None:
    log: list = []
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, group_id="g-unsub",
                        **FAST) as consumer:
        consumer.subscribe(["t"], listener=Recorder("m", log))
        with trio.fail_after(10):
            while not consumer.assignment():
                await consumer.poll(timeout_ms=20)
        await consumer.unsubscribe()
        assert consumer.assignment() == set() and consumer.subscription() == set()
        assert [e[2] for e in log] == ["assigned", "revoked"]
        assert not fake.group("g-unsub").members
        consumer.assign([TP("t", 0)])  # allowed again after unsubscribe
        assert consumer.assignment() == {TP("t", 0)}


async def test_a_member_that_stops_polling_leaves_and_rejoins(fake: FakeGroupBroker) -> None:
    produce(fake, 0, 2)
    log: list = []
    async with Consumer(bootstrap_servers=fake.broker.bootstrap, group_id="g-slow",
                        auto_offset_reset="earliest", max_poll_interval_ms=300,
                        **FAST) as consumer:
        consumer.subscribe(["t"], listener=Recorder("m", log))
        await consume(consumer, 2)
        with trio.fail_after(10):
            while fake.group("g-slow").members:  # busy "processing", not polling
                await trio.sleep(0.05)
        with trio.fail_after(10):
            while len(log) < 3:
                await consumer.poll(timeout_ms=20)
        assert [e[2] for e in log] == ["assigned", "lost", "assigned"]
        assert len(consumer.assignment()) == 4


async def test_static_member_does_not_leave_on_close(fake: FakeGroupBroker) -> None:
    async with Consumer("t", bootstrap_servers=fake.broker.bootstrap, group_id="g-static",
                        group_instance_id="instance-1", **FAST) as consumer:
        with trio.fail_after(10):
            while not consumer.assignment():
                await consumer.poll(timeout_ms=20)
        assert consumer.member_id.startswith("instance-1")
    assert fake.broker.count(ApiKey.LEAVE_GROUP) == 0
    assert fake.group("g-static").members


async def test_heartbeats_continue_while_an_assignment_waits_for_the_application(
    fake: FakeGroupBroker,
) -> None:
    for p in range(4):
        produce(fake, p, 50)
    options = dict(bootstrap_servers=fake.broker.bootstrap, group_id="g-wait",
                   auto_offset_reset="earliest", max_poll_records=5,
                   partition_assignment_strategy=("cooperative-sticky",), **FAST)
    async with Consumer("t", **options) as a:
        await consume(a, 5)
        async with Consumer("t", **options) as b:
            with trio.fail_after(10):
                while fake.group("g-wait").state != "Stable" or len(
                    fake.group("g-wait").members
                ) != 2:
                    await b.poll(timeout_ms=20)
            # a holds records and does not poll for several session timeouts' worth of
            # heartbeats; its new assignment must wait, its membership must not expire
            def heartbeats_from_a() -> int:
                return sum(1 for h, body in fake.broker.requests
                           if h.api_key == ApiKey.HEARTBEAT and body["member_id"] == a.member_id)

            before = heartbeats_from_a()
            await trio.sleep(0.5)
            assert heartbeats_from_a() >= before + 3
            assert len(a.assignment()) == 4  # nothing revoked behind the application's back
            with trio.fail_after(10):
                while len(a.assignment()) != 2 or len(b.assignment()) != 2:
                    await a.poll(timeout_ms=20)
                    await b.poll(timeout_ms=20)


async def test_a_failing_listener_surfaces_from_poll_and_the_rebalance_completes(
    fake: FakeGroupBroker,
) -> None:
    produce(fake, 0, 2)

    class Broken(RebalanceListener):
        def on_partitions_assigned(self, assigned: set[TP]) -> None:
            raise LookupError("listener bug")

    async with Consumer(bootstrap_servers=fake.broker.bootstrap, group_id="g-broken",
                        auto_offset_reset="earliest", **FAST) as consumer:
        consumer.subscribe(["t"], listener=Broken())
        with trio.fail_after(10), pytest.raises(LookupError, match="listener bug"):
            while True:
                await consumer.poll(timeout_ms=20)
        assert len(consumer.assignment()) == 4
        assert len(await consume(consumer, 2)) == 2
