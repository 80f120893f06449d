"""The metadata follower: store changes reach the replica manager's side in revision order."""

from __future__ import annotations

from collections.abc import Mapping

import trio
import trio.testing

from broker.metadata.controller import Controller, NewTopic
from broker.metadata.image import MetadataFollower, StateAt
from broker.metadata.memory import MemoryMetadataStore
from broker.metadata.records import (
    PartitionState,
    TopicRecord,
    create_topic,
    delete_topic,
    get_partition,
    update_partition,
)
from broker.storage.config import LogConfig


class RecordingSink:
    """Remembers every call, and what it would host, as a replica manager would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.states: dict[tuple[str, int], tuple[PartitionState, int]] = {}
        self.topics: dict[str, TopicRecord] = {}

    def apply_topic(self, record: TopicRecord, states: Mapping[int, StateAt]) -> None:
        self.calls.append(("topic", (record.name, record.partitions, sorted(states))))
        self.topics[record.name] = record
        for index, at in states.items():
            self.states[(record.name, index)] = at

    def apply_partition(self, record: TopicRecord, state: PartitionState, version: int) -> None:
        self.calls.append(("partition", (record.name, state.partition, state.leader)))
        previous = self.states.get((record.name, state.partition))
        assert previous is None or previous[1] < version, "an older state after a newer one"
        self.states[(record.name, state.partition)] = (state, version)

    def update_topic_config(self, record: TopicRecord) -> None:
        self.calls.append(("config", dict(record.configs)))
        self.topics[record.name] = record

    def remove_topic(self, name: str) -> None:
        self.calls.append(("remove", name))
        self.topics.pop(name, None)
        self.states = {k: v for k, v in self.states.items() if k[0] != name}


async def test_a_topic_is_hosted_once_whole_and_later_states_one_by_one() -> None:
    store = MemoryMetadataStore()
    sink = RecordingSink()
    follower = MetadataFollower(store, sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(follower.run)
        await create_topic(store, "t", [[1, 2], [2, 1]])
        await follower.image.wait_revision(store.revision)
        # The partition keys come before the topic key: one call with both states.
        assert sink.calls == [("topic", ("t", 2, [0, 1]))]
        state, version = (await get_partition(store, "t", 1)) or (None, 0)
        assert state is not None
        await update_partition(store, PartitionState("t", 1, (2, 1), 1, 1, (1,)), version)
        await follower.image.wait_revision(store.revision)
        assert sink.calls[-1] == ("partition", ("t", 1, 1))
        assert follower.image.state("t", 1) == PartitionState("t", 1, (2, 1), 1, 1, (1,))
        assert sorted(s.partition for s in follower.image.led_by(1)) == [0, 1]
        assert follower.image.led_by(2) == []
        await delete_topic(store, "t")
        await follower.image.wait_revision(store.revision)
        assert sink.calls[-1] == ("remove", "t")
        assert follower.image.topics == {} and follower.image.states == {}
        nursery.cancel_scope.cancel()


async def test_topics_stored_before_the_start_are_applied_by_the_first_listing() -> None:
    store = MemoryMetadataStore()
    await create_topic(store, "early", [[1]])
    sink = RecordingSink()
    follower = MetadataFollower(store, sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(follower.run)
        assert sink.calls == [("topic", ("early", 1, [0]))]
        assert follower.image.revision == store.revision
        nursery.cancel_scope.cancel()


async def test_growth_and_config_changes_arrive_with_the_topic_record() -> None:
    store = MemoryMetadataStore()
    controller = Controller(store, 1, LogConfig(), 1, 1)
    sink = RecordingSink()
    follower = MetadataFollower(store, sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(follower.run)
        await controller.create(NewTopic("g", 1, 1, {}, {}))
        await controller.add_partitions("g", 3, None)
        await controller.alter_configs("g", {"retention.ms": "1000"})
        await follower.image.wait_revision(store.revision)
        # The new partitions' states are written before the record that counts them: the
        # sink is not told about a partition its topic does not have yet.
        assert [c for c in sink.calls if c[0] == "partition"] == []
        assert ("topic", ("g", 3, [0, 1, 2])) in sink.calls
        assert sink.calls[-1] == ("config", {"retention.ms": "1000"})
        nursery.cancel_scope.cancel()


async def test_a_lagging_watch_lists_again_and_applies_only_the_difference() -> None:
    store = MemoryMetadataStore()
    await create_topic(store, "keep", [[1]])
    await create_topic(store, "gone", [[1]])
    sink = RecordingSink()
    follower = MetadataFollower(store, sink)
    entries, revision = await store.list("")
    follower._reset(entries, revision)
    assert sorted(sink.topics) == ["gone", "keep"]
    sink.calls.clear()
    # What a dropped watch missed: a topic deleted, a leader changed, a topic created.
    await delete_topic(store, "gone")
    found = await get_partition(store, "keep", 0)
    assert found is not None
    await update_partition(store, PartitionState("keep", 0, (1,), 1, 1, (1,)), found[1])
    await create_topic(store, "new", [[1]])
    entries, revision = await store.list("")
    follower._reset(entries, revision)
    assert sorted(sink.calls, key=str) == sorted(
        [("remove", "gone"), ("partition", ("keep", 0, 1)), ("topic", ("new", 1, [0]))],
        key=str,
    )
    assert sink.states[("keep", 0)][0].leader_epoch == 1
    # Listing again with nothing new changes nothing.
    sink.calls.clear()
    follower._reset(entries, revision)
    assert sink.calls == []


async def test_wait_revision_returns_once_the_change_is_applied(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    follower = MetadataFollower(store, RecordingSink())
    async with trio.open_nursery() as nursery:
        await nursery.start(follower.run)
        record = await create_topic(store, "w", [[1]])
        assert record is not None
        with trio.fail_after(1):
            await follower.image.wait_revision(store.revision)
        assert "w" in follower.image.topics
        with trio.move_on_after(5) as scope:
            await follower.image.wait_revision(store.revision + 1)
        assert scope.cancelled_caught, "a revision nobody wrote was reported as applied"
        nursery.cancel_scope.cancel()


async def test_a_topic_recreated_while_the_watch_was_down_replaces_the_old_one() -> None:
    store = MemoryMetadataStore()
    await create_topic(store, "again", [[1]])
    sink = RecordingSink()
    follower = MetadataFollower(store, sink)
    entries, revision = await store.list("")
    follower._reset(entries, revision)
    old_id = sink.topics["again"].topic_id
    await delete_topic(store, "again")
    await create_topic(store, "again", [[1], [1]])
    sink.calls.clear()
    entries, revision = await store.list("")
    follower._reset(entries, revision)
    assert sink.calls == [("remove", "again"), ("topic", ("again", 2, [0, 1]))]
    assert sink.topics["again"].topic_id != old_id
