"""An SDK consumer and a confluent-kafka (librdkafka) consumer in one group, on the fake
coordinator of the unit tests: each side reads the other's subscription and assignment
bytes, whichever of them leads, under the eager and the cooperative protocol.

The same scenario against a real broker process is in test_consumer_broker.py; this one
pins the wire formats down independently of the broker.
"""

from __future__ import annotations

import pytest
import trio

from client.consumer import Consumer, TopicPartition as TP
from client.records import build_batch
from integration.consumer.peers import ConfluentMember, LoggingListener, OwnershipLog
from unit.consumer.fake_group import FakeGroupBroker
from unit.sdk.fake_broker import FakeBroker

STRATEGIES = {
    "eager": (("range", "roundrobin"), "range,roundrobin"),
    "cooperative": (("cooperative-sticky",), "cooperative-sticky"),
}
EVERYTHING = {TP("t", p) for p in range(6)}


async def until(predicate: object, consumer: Consumer, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await consumer.poll(timeout_ms=50)


@pytest.mark.parametrize("protocol", sorted(STRATEGIES))
@pytest.mark.parametrize("leader", ["sdk", "librdkafka"])
async def test_sdk_and_librdkafka_members_split_a_topic(
    nursery: trio.Nursery, protocol: str, leader: str
) -> None:
    broker = await FakeBroker().start(nursery)
    fake = FakeGroupBroker(broker)
    fake.nursery = nursery
    broker.state.add_topic("t", 6)
    for p in range(6):
        fake.append("t", p, build_batch([b"%d-%d" % (p, i) for i in range(5)]))
    sdk_strategy, ck_strategy = STRATEGIES[protocol]
    log = OwnershipLog()
    async with Consumer(bootstrap_servers=broker.bootstrap, group_id="g",
                        auto_offset_reset="earliest", partition_assignment_strategy=sdk_strategy,
                        heartbeat_interval_ms=200, fetch_max_wait_ms=100) as sdk:
        ck = ConfluentMember("ck", broker.bootstrap, "g", "t", ck_strategy, log)
        if leader == "sdk":
            sdk.subscribe(["t"], listener=LoggingListener("sdk", log))
            await until(lambda: sdk.assignment() == EVERYTHING, sdk)
            ck.start()
        else:
            ck.start()
            await until(lambda: ck.assignment == EVERYTHING, sdk)
            sdk.subscribe(["t"], listener=LoggingListener("sdk", log))
        try:
            await until(lambda: len(sdk.assignment()) == 3 and len(ck.assignment) == 3, sdk)
            owners = log.check()
            assert set(owners) == EVERYTHING
            assert {tp for tp, who in owners.items() if who == "sdk"} == sdk.assignment()
            # the first member's first revocation: only what moves, or everything
            first = next(e for e in sorted(log.events) if e[2] == "revoked")
            assert len(first[3]) == (3 if protocol == "cooperative" else 6)
        finally:
            await trio.to_thread.run_sync(ck.stop)
        await until(lambda: sdk.assignment() == EVERYTHING, sdk)
    log.check()
