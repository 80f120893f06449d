"""The coordinator's durable state: what replaying ``__consumer_offsets`` leaves behind.

``CoordinatorStore.apply`` is the only way this state changes, both while the coordinator
runs (it applies each record it emits) and when a partition is loaded after a restart. Each
record only sets or clears its own key, so the state is a function of the last value per key
and a compacted log rebuilds exactly the same state.
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.coordinator.formats import (
    GroupKey,
    GroupValue,
    OffsetKey,
    OffsetValue,
    decode_group_value,
    decode_key,
    decode_offset_value,
)

Record = tuple[bytes, bytes | None]
TopicPartition = tuple[str, int]


class CoordinatorStore:
    """Group metadata and committed offsets of one ``__consumer_offsets`` partition."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupValue] = {}
        self.offsets: dict[str, dict[TopicPartition, OffsetValue]] = {}

    def apply(self, key: bytes, value: bytes | None) -> OffsetKey | GroupKey | None:
        """Replay one record; returns its decoded key (None for a record type we ignore)."""
        k = decode_key(key)
        if isinstance(k, OffsetKey):
            if value is None:
                group_offsets = self.offsets.get(k.group)
                if group_offsets is not None:
                    group_offsets.pop((k.topic, k.partition), None)
                    if not group_offsets:
                        del self.offsets[k.group]
            else:
                self.offsets.setdefault(k.group, {})[(k.topic, k.partition)] = (
                    decode_offset_value(value)
                )
        elif isinstance(k, GroupKey):
            if value is None:
                self.groups.pop(k.group, None)
            else:
                self.groups[k.group] = decode_group_value(value)
        return k

    def load(self, records: Iterable[Record]) -> None:
        """Replay many records in offset order.

        Equivalent to ``apply`` on each, because records of different keys do not interact;
        a key's superseded values are never decoded: only the last value per key is parsed.
        """
        last: dict[bytes, bytes | None] = {}
        for key, value in records:
            last[key] = value
        for key, value in last.items():
            self.apply(key, value)

    def group_ids(self) -> set[str]:
        """Every group that has metadata or committed offsets."""
        return set(self.groups) | set(self.offsets)

    def snapshot(
        self,
    ) -> tuple[dict[str, GroupValue], dict[str, dict[TopicPartition, OffsetValue]]]:
        """A copy of the whole state, comparable with ``==``."""
        return dict(self.groups), {g: dict(o) for g, o in self.offsets.items()}
