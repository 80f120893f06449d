"""Controlled shutdown on an in-memory store: memberships, the controller and the image."""

from __future__ import annotations

import trio
import trio.testing

from broker.api.cluster import movable_leaderships, session_timeout_s
from broker.metadata.controller import ControllerDuties
from broker.metadata.image import MetadataFollower, MetadataImage
from broker.metadata.membership import ClusterView, new_incarnation
from broker.metadata.memory import MemoryMetadataStore
from broker.metadata.records import PartitionState, TopicRecord, create_topic
from broker.metadata.registration import BrokerMembership
from broker.storage.config import LogConfig


class NullSink:
    """A replica manager that hosts nothing (only the image matters here)."""

    def apply_topic(self, record: TopicRecord, states: object) -> None:
        pass

    def apply_partition(self, record: TopicRecord, state: PartitionState, version: int) -> None:
        pass

    def update_topic_config(self, record: TopicRecord) -> None:
        pass

    def remove_topic(self, name: str) -> None:
        pass


class Member:
    """One simulated broker: its view, image and membership."""

    def __init__(self, store: MemoryMetadataStore, node_id: int, duties: bool = True) -> None:
        self.view = ClusterView(node_id)
        self.image = MetadataImage()
        self.follower = MetadataFollower(store, NullSink(), self.image)

        async def endpoint() -> tuple[str, int]:
            return "127.0.0.1", 9000 + node_id

        async def controller() -> None:
            if duties:
                await ControllerDuties(store, LogConfig).run()
            else:
                await trio.sleep_forever()

        self.membership = BrokerMembership(
            store, store, self.view, endpoint, session_timeout_s=2,
            on_registered=lambda version: None, controller_duties=controller,
            incarnation=new_incarnation(),
        )  # fmt: skip

    async def start(self, nursery: trio.Nursery, store: MemoryMetadataStore) -> None:
        await nursery.start(self.view.run, store)
        await nursery.start(self.follower.run)
        nursery.start_soon(self.membership.run)
        await self.membership.registered.wait()

    def movable(self) -> int:
        return movable_leaderships(self.image, self.view, self.view.node_id)


async def test_controlled_shutdown_returns_once_leadership_moved(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        members = {n: Member(store, n) for n in (1, 2, 3)}
        for member in members.values():
            await member.start(nursery, store)
        await create_topic(store, "t", [[1, 2, 3], [1, 3, 2], [2, 3, 1], [1]])
        leaving = members[1]
        await leaving.image.wait_revision(store.revision)
        # Partition 3 has no other replica: it is not movable and does not hold things up.
        assert leaving.movable() == 2
        started = trio.current_time()
        moved = await leaving.membership.controlled_shutdown(
            leaving.movable,
            leaving.image.wait_changed,
            timeout_s=10,
        )
        assert moved and trio.current_time() - started < 1
        entries, _ = await store.list("partitions/t/")
        states = {v.value["partition"]: v.value for v in entries.values()}
        assert [states[i]["leader"] for i in range(3)] == [2, 3, 2]
        assert all(1 not in states[i]["isr"] for i in range(3))
        assert states[3]["leader"] == 1
        nursery.cancel_scope.cancel()


async def test_controlled_shutdown_gives_up_after_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        # A controller that does nothing: leadership never moves.
        member = Member(store, 1, duties=False)
        await member.start(nursery, store)
        other = Member(store, 2, duties=False)
        await other.start(nursery, store)
        await create_topic(store, "t", [[1, 2]])
        await member.image.wait_revision(store.revision)
        assert member.movable() == 1
        started = trio.current_time()
        assert not await member.membership.controlled_shutdown(
            member.movable, member.image.wait_changed, timeout_s=3
        )
        assert 3 <= trio.current_time() - started < 3.5
        nursery.cancel_scope.cancel()


def test_the_lease_ttl_is_whole_seconds_and_at_least_two() -> None:
    assert session_timeout_s(6000) == 6
    assert session_timeout_s(2000) == 2
    assert session_timeout_s(2400) == 2
    assert session_timeout_s(500) == 2
