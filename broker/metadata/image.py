"""The cluster's topics and partition states as one broker knows them, kept current by a watch.

In cluster mode every broker runs a ``MetadataFollower``: one watch on the whole store (so
topic and partition changes arrive in one revision order), the listing it starts from, and,
for every change under ``topics/`` and ``partitions/``, an update of the ``MetadataImage`` and
a call on the ``ImageSink`` (the replica manager's side: host a topic, take a partition's new
state, drop a topic).  A watch that falls behind (``WatchLagged``) or breaks makes the follower
list again; the difference between the old image and the new listing is applied, so nothing
is missed and nothing is applied twice out of order.

Topic creation writes partition keys before the topic key, and growth writes the new
partitions before the rewritten topic; a partition state is therefore handed to the sink on its
own only when its topic already counts it, and otherwise arrives with the topic.

The image answers Metadata and FindCoordinator for partitions this broker does not host, and
``wait_revision`` lets a handler that just wrote a topic answer once this broker has applied it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import NoReturn, Protocol

import trio

from broker.metadata.records import PARTITIONS_PREFIX, TOPICS_PREFIX, PartitionState, TopicRecord
from broker.metadata.store import Change, MetadataError, MetadataStore, Versioned

log = logging.getLogger("rillet.metadata")

RETRY_S = 0.2

StateAt = tuple[PartitionState, int]  # a partition state and its store version


class ImageSink(Protocol):
    """What a follower tells about each change (the replica manager's side)."""

    def apply_topic(self, record: TopicRecord, states: Mapping[int, StateAt]) -> None:
        """A topic appeared (or its partition count changed): host it with these states."""
        ...

    def apply_partition(self, record: TopicRecord, state: PartitionState, version: int) -> None:
        """One partition of a known topic has a new state, written at ``version``."""
        ...

    def update_topic_config(self, record: TopicRecord) -> None:
        """A known topic's config overrides changed."""
        ...

    def remove_topic(self, name: str) -> None:
        """A topic was deleted."""
        ...


class MetadataImage:
    """Topics and partition states with their versions, as of ``revision``."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicRecord] = {}
        self.states: dict[tuple[str, int], StateAt] = {}
        self.revision = 0
        self._changed = trio.Event()

    def partitions(self, topic: str) -> dict[int, StateAt]:
        """The states of a topic's partitions (those its record counts), by index."""
        record = self.topics.get(topic)
        if record is None:
            return {}
        return {
            index: self.states[(topic, index)]
            for index in range(record.partitions)
            if (topic, index) in self.states
        }

    def state(self, topic: str, index: int) -> PartitionState | None:
        """One partition's state, or None when the topic or partition is unknown."""
        record = self.topics.get(topic)
        if record is None or not 0 <= index < record.partitions:
            return None
        found = self.states.get((topic, index))
        return None if found is None else found[0]

    def led_by(self, node_id: int) -> list[PartitionState]:
        """Every partition whose stored leader is ``node_id``."""
        return [
            state
            for (topic, index), (state, _) in self.states.items()
            if state.leader == node_id and topic in self.topics
            and index < self.topics[topic].partitions
        ]

    async def wait_changed(self) -> None:
        """Return after the next applied change."""
        await self._changed.wait()

    async def wait_revision(self, revision: int) -> None:
        """Return once every change up to ``revision`` has been applied."""
        while self.revision < revision:
            await self._changed.wait()

    def _advance(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        changed, self._changed = self._changed, trio.Event()
        changed.set()


def _partition_key(key: str) -> tuple[str, int] | None:
    topic, _, index = key[len(PARTITIONS_PREFIX):].rpartition("/")
    return (topic, int(index)) if topic and index.isdigit() else None


class MetadataFollower:
    """Keeps a MetadataImage and an ImageSink in step with the store (see module docstring)."""

    def __init__(
        self,
        store: MetadataStore,
        sink: ImageSink,
        image: MetadataImage | None = None,
        *,
        after_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.image = image if image is not None else MetadataImage()
        self.after_change = after_change

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> NoReturn:
        """Follow the store until cancelled; ``task_status`` fires once the first listing is
        applied."""
        started = False
        while True:
            try:
                async with self.store.watch("") as changes:
                    entries, revision = await self.store.list("")
                    self._reset(entries, revision)
                    if not started:
                        started = True
                        task_status.started()
                    async for change in changes:
                        if change.version > revision:
                            self._apply(change)
                raise MetadataError("the metadata watch ended")
            except MetadataError as exc:
                log.warning("metadata follower: %s; listing again", exc)
            await trio.sleep(RETRY_S)

    def _reset(self, entries: Mapping[str, Versioned], revision: int) -> None:
        """Apply the difference between the image and a full listing taken at ``revision``."""
        topics: dict[str, TopicRecord] = {}
        states: dict[tuple[str, int], StateAt] = {}
        for key, entry in entries.items():
            if key.startswith(TOPICS_PREFIX):
                record = TopicRecord.from_json(entry.value)
                topics[record.name] = record
            elif key.startswith(PARTITIONS_PREFIX) and _partition_key(key) is not None:
                state = PartitionState.from_json(entry.value)
                states[(state.topic, state.partition)] = (state, entry.version)
        image = self.image
        old_topics, old_states = image.topics, image.states
        image.topics, image.states = topics, states
        for name in sorted(set(old_topics) - set(topics)):
            self._call(self.sink.remove_topic, name)
        for name, record in sorted(topics.items()):
            mine = image.partitions(name)
            before = {
                index: old_states[(name, index)]
                for index in mine
                if (name, index) in old_states
            }
            old = old_topics.get(name)
            if old is not None and old.topic_id != record.topic_id:
                # Deleted and created again while the watch was down: a new topic.
                self._call(self.sink.remove_topic, name)
                old = None
            if old is None or old.partitions != record.partitions:
                self._call(self.sink.apply_topic, record, mine)
                continue
            if old.configs != record.configs:
                self._call(self.sink.update_topic_config, record)
            for index, (state, version) in sorted(mine.items()):
                if before.get(index) != (state, version):
                    self._call(self.sink.apply_partition, record, state, version)
        image._advance(revision)
        self._notify()

    def _apply(self, change: Change) -> None:
        """Apply one watched change (already known to be newer than the listing)."""
        image = self.image
        key = change.key
        if key.startswith(TOPICS_PREFIX):
            name = key[len(TOPICS_PREFIX):]
            if change.value is None:
                if image.topics.pop(name, None) is not None:
                    self._call(self.sink.remove_topic, name)
            else:
                record = TopicRecord.from_json(change.value)
                old = image.topics.get(name)
                image.topics[name] = record
                if (
                    old is None
                    or old.topic_id != record.topic_id
                    or old.partitions != record.partitions
                ):
                    self._call(self.sink.apply_topic, record, image.partitions(name))
                elif old.configs != record.configs:
                    self._call(self.sink.update_topic_config, record)
        elif key.startswith(PARTITIONS_PREFIX):
            at = _partition_key(key)
            if at is not None:
                if change.value is None:
                    image.states.pop(at, None)
                else:
                    state = PartitionState.from_json(change.value)
                    image.states[at] = (state, change.version)
                    record = image.topics.get(at[0])
                    if record is not None and at[1] < record.partitions:
                        self._call(self.sink.apply_partition, record, state, change.version)
        image._advance(change.version)
        self._notify()

    def _notify(self) -> None:
        if self.after_change is not None:
            self.after_change()

    @staticmethod
    def _call(method: Callable[..., None], *args: object) -> None:
        # One partition the replica manager cannot take (a disk error, say) must not stop
        # the broker from following every other change.
        try:
            method(*args)
        except Exception:
            log.exception("applying a metadata change failed: %s%r", method.__name__, args[:1])
