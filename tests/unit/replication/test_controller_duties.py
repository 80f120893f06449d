"""The active controller's duties on an in-memory store, timed by trio's mock clock.

Brokers here are only what the controller sees of them: a registration under a lease.  A
crash stops the keep-alives, so the registration disappears one TTL later; a clean exit revokes
the lease at once.  Every decision is then read back from the stored partition states.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from broker.metadata.controller import ControllerDuties
from broker.metadata.membership import BrokerInfo, broker_key, register
from broker.metadata.memory import MemoryMetadataStore
from broker.metadata.records import (
    PartitionState,
    create_topic,
    get_partition,
    update_partition,
)
from broker.storage.config import LogConfig

TTL_S = 2


class SimBroker:
    """A broker's registration, kept alive until it crashes or leaves."""

    def __init__(self, store: MemoryMetadataStore, node_id: int) -> None:
        self.store = store
        self.node_id = node_id
        self.lease = 0
        self._scope = trio.CancelScope()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.lease = await self.store.grant_lease(TTL_S)
        info = BrokerInfo(self.node_id, "127.0.0.1", 9000 + self.node_id, f"i{self.node_id}")
        await register(self.store, info, self.lease)
        with self._scope:
            await self.store.keep_alive(self.lease, task_status=task_status)

    def crash(self) -> None:
        """Stop keeping the lease alive (kill -9): the registration outlives it by one TTL."""
        self._scope.cancel()


class Sim:
    """A store, its lease expiry, a controller and registered brokers."""

    def __init__(self, nursery: trio.Nursery, unclean: bool = False) -> None:
        self.nursery = nursery
        self.store = MemoryMetadataStore()
        self.brokers: dict[int, SimBroker] = {}
        self.defaults = LogConfig(unclean_leader_election_enable=unclean)
        self.duties = ControllerDuties(
            self.store, lambda: self.defaults, preferred_interval_s=30.0
        )

    async def start(self, *nodes: int) -> None:
        self.nursery.start_soon(self.store.run_expiry)
        for node in nodes:
            await self.add_broker(node)
        await self.nursery.start(self.duties.run)

    async def add_broker(self, node: int) -> SimBroker:
        broker = SimBroker(self.store, node)
        self.brokers[node] = broker
        await self.nursery.start(broker.run)
        return broker

    async def state(self, partition: int = 0) -> PartitionState:
        found = await get_partition(self.store, "t", partition)
        assert found is not None
        return found[0]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str
) -> None:
    """Wait in mock time until ``check`` holds."""
    with trio.move_on_after(timeout):
        while not await check():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    return autojump_clock


async def test_a_crashed_leader_is_replaced_from_the_isr_after_its_lease(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery)
        await sim.start(1, 2, 3)
        await create_topic(sim.store, "t", [[1, 2, 3], [2, 3, 1]])
        crashed_at = trio.current_time()
        sim.brokers[1].crash()
        await trio.sleep(TTL_S - 0.2)
        assert (await sim.state(0)).leader == 1, "the lease had not run out yet"

        async def moved() -> bool:
            return (await sim.state(0)).leader != 1

        await eventually(moved, 1.0, "a new leader")
        assert trio.current_time() - crashed_at <= TTL_S + 1.0
        first, second = await sim.state(0), await sim.state(1)
        assert (first.leader, first.leader_epoch, first.isr) == (2, 1, (2, 3))
        # Partition 1 keeps its leader and epoch; only the dead follower leaves its ISR.
        assert (second.leader, second.leader_epoch, second.isr) == (2, 0, (2, 3))
        nursery.cancel_scope.cancel()


async def test_without_unclean_election_an_isr_of_dead_brokers_stays_offline(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery, unclean=False)
        await sim.start(1, 2, 3)
        await create_topic(sim.store, "t", [[1, 2, 3]])
        current, version = (await get_partition(sim.store, "t", 0)) or (None, 0)
        assert current is not None
        await update_partition(
            sim.store, PartitionState("t", 0, (1, 2, 3), 1, 0, (1,)), version
        )
        sim.brokers[1].crash()

        async def offline() -> bool:
            return (await sim.state()).leader == -1

        await eventually(offline, TTL_S + 1.0, "the partition going offline")
        await trio.sleep(TTL_S * 3)
        after = await sim.state()
        assert after.leader == -1 and after.isr == (1,) and after.leader_epoch == 1
        # When the one in-sync replica returns, it leads again.
        await sim.add_broker(1)

        async def back() -> bool:
            return (await sim.state()).leader == 1

        await eventually(back, 1.0, "the in-sync replica leading again")
        assert (await sim.state()).leader_epoch == 2
        nursery.cancel_scope.cancel()


async def test_unclean_election_takes_a_live_replica_outside_the_isr(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery, unclean=True)
        await sim.start(1, 2, 3)
        await create_topic(sim.store, "t", [[1, 2, 3]])
        found = await get_partition(sim.store, "t", 0)
        assert found is not None
        await update_partition(
            sim.store, PartitionState("t", 0, (1, 2, 3), 1, 0, (1,)), found[1]
        )
        sim.brokers[1].crash()

        async def elected() -> bool:
            return (await sim.state()).leader not in (1, -1)

        await eventually(elected, TTL_S + 1.0, "an unclean election")
        after = await sim.state()
        assert after.leader == 2 and after.isr == (2,) and after.leader_epoch == 1
        nursery.cancel_scope.cancel()


async def test_preferred_replica_gets_leadership_back_on_the_periodic_check(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery)
        await sim.start(1, 2, 3)
        await create_topic(sim.store, "t", [[1, 2, 3]])
        found = await get_partition(sim.store, "t", 0)
        assert found is not None
        # Leadership moved to 2 while 1 was away; 1 is back and in sync.
        await update_partition(
            sim.store, PartitionState("t", 0, (1, 2, 3), 2, 3, (2, 3, 1)), found[1]
        )
        await trio.sleep(1.0)
        assert (await sim.state()).leader == 2, "only the periodic check moves it back"

        async def preferred() -> bool:
            return (await sim.state()).leader == 1

        await eventually(preferred, 31.0, "the preferred replica leading")
        after = await sim.state()
        assert after.leader_epoch == 4 and set(after.isr) == {1, 2, 3}
        nursery.cancel_scope.cancel()


async def test_the_isr_never_empties_when_every_broker_dies(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery)
        await sim.start(1, 2, 3)
        await create_topic(sim.store, "t", [[1, 2, 3], [3, 1, 2]])
        for node in (3, 1, 2):
            sim.brokers[node].crash()
            await trio.sleep(TTL_S + 0.5)
            for index in (0, 1):
                assert (await sim.state(index)).isr, f"empty ISR after broker {node} died"
        for index in (0, 1):
            final = await sim.state(index)
            assert final.leader == -1 and len(final.isr) == 1
        assert await sim.store.get(broker_key(2)) is None
        nursery.cancel_scope.cancel()


async def test_a_restarted_leader_is_reelected_with_a_new_epoch(
    clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        sim = Sim(nursery)
        await sim.start(1)
        await create_topic(sim.store, "t", [[1]])
        # kill -9 and a start within the TTL: the new registration replaces the old one.
        sim.brokers[1].crash()
        await sim.add_broker(1)

        async def renewed() -> bool:
            state = await sim.state()
            return state.leader == 1 and state.leader_epoch == 1

        await eventually(renewed, 1.0, "re-election of the restarted broker")
        nursery.cancel_scope.cancel()
