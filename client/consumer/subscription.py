"""What the consumer wants and what it holds: subscription, assignment, per-partition positions.

Pure state, no I/O; the consumer, the fetcher and the group membership all read and change it.

Every assigned partition has a :class:`PartitionState` with two offsets:

* ``position`` — the next offset to hand to the application (what a commit stores);
* ``fetch_offset`` — the next offset to ask the broker for; at or past ``position``, since
  records already fetched but not yet returned sit in the fetcher's buffer.

A partition without a position waits for one: first its committed offset (in a group), else
a reset to the earliest or latest offset (``reset``). A partition whose position came from an
older leader epoch waits for validation (``awaiting_validation``) before it is fetched again.
``seq`` changes whenever the position is set from outside the fetch path (seek, reset, pause,
reassignment): fetched data tagged with an older ``seq`` is stale and dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from client.consumer.structs import OffsetAndMetadata, TopicPartition

__all__ = ["PartitionState", "SubscriptionState", "SubscriptionMode"]


class SubscriptionMode:
    """How partitions are chosen: none yet, by topic list, by pattern, or by hand."""

    NONE = "none"
    TOPICS = "topics"
    PATTERN = "pattern"
    MANUAL = "manual"


class PartitionState:
    """Offsets and flags of one assigned partition (see the module docstring)."""

    __slots__ = (
        "position",
        "position_epoch",
        "fetch_offset",
        "fetch_epoch",
        "paused",
        "reset",
        "needs_committed",
        "awaiting_validation",
        "current_leader_epoch",
        "high_watermark",
        "last_stable_offset",
        "log_start_offset",
        "seq",
        "processed",
        "retry_at",
    )

    def __init__(self, reset: str | None, needs_committed: bool) -> None:
        self.position: int | None = None
        self.position_epoch = -1
        self.fetch_offset: int | None = None
        self.fetch_epoch = -1
        self.paused = False
        self.reset = reset
        self.needs_committed = needs_committed
        self.awaiting_validation = False
        self.current_leader_epoch = -1
        self.high_watermark = -1
        self.last_stable_offset = -1
        self.log_start_offset = -1
        self.seq = 0
        self.processed: tuple[int, int] | None = None
        self.retry_at = float("-inf")

    @property
    def has_position(self) -> bool:
        """Whether the next offset to return is known."""
        return self.position is not None

    @property
    def fetchable(self) -> bool:
        """Whether this partition may be fetched right now."""
        return self.position is not None and not self.paused and not self.awaiting_validation

    def set_position(self, offset: int, epoch: int = -1, *, validate: bool = False) -> None:
        """Move both offsets to ``offset`` (from a seek, commit or reset)."""
        self.position = offset
        self.fetch_offset = offset
        self.position_epoch = epoch
        self.fetch_epoch = epoch
        self.reset = None
        self.needs_committed = False
        self.awaiting_validation = validate and epoch >= 0
        self.seq += 1

    def request_reset(self, strategy: str) -> None:
        """Forget the position; it will be looked up by ``strategy`` (earliest / latest)."""
        self.position = None
        self.fetch_offset = None
        self.reset = strategy
        self.needs_committed = False
        self.awaiting_validation = False
        self.seq += 1

    def rewind_fetch(self) -> None:
        """Drop what was fetched past the position (its buffered data becomes stale)."""
        self.fetch_offset = self.position
        self.fetch_epoch = self.position_epoch
        self.seq += 1


class SubscriptionState:
    """The consumer's subscription and assignment; ``default_reset`` is auto_offset_reset
    ("earliest", "latest" or "none") and ``uses_group`` whether committed offsets exist."""

    def __init__(self, default_reset: str, uses_group: bool) -> None:
        self.default_reset = default_reset
        self.uses_group = uses_group
        self.mode = SubscriptionMode.NONE
        self.topics: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.listener: object | None = None
        self._assignment: dict[TopicPartition, PartitionState] = {}
        # changes whenever the wanted topics change, so the group knows to rejoin
        self.version = 0

    # -- what the application asked for

    def _set_mode(self, mode: str) -> None:
        if self.mode not in (SubscriptionMode.NONE, mode) and mode != SubscriptionMode.NONE:
            raise ValueError(
                "subscribe() and assign() cannot be mixed; call unsubscribe() first"
            )
        self.mode = mode

    def subscribe(self, topics: Iterable[str], listener: object | None = None) -> bool:
        """Subscribe to ``topics`` (replacing the previous list); True when it changed."""
        wanted = set(topics)
        for topic in wanted:
            if not isinstance(topic, str) or not topic:
                raise ValueError(f"topic names must be non-empty strings, not {topic!r}")
        self._set_mode(SubscriptionMode.TOPICS if wanted else SubscriptionMode.NONE)
        self.listener = listener
        self.pattern = None
        changed = wanted != self.topics
        self.topics = wanted
        if changed:
            self.version += 1
        return changed

    def subscribe_pattern(self, pattern: str | re.Pattern[str], listener: object | None) -> None:
        """Subscribe to every topic whose whole name matches ``pattern``."""
        self._set_mode(SubscriptionMode.PATTERN)
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.listener = listener
        self.topics = set()
        self.version += 1

    def match_pattern(self, cluster_topics: Iterable[str], exclude_internal: bool = True) -> bool:
        """With a pattern subscription, set ``topics`` to the matching cluster topics; True
        when that changed the topic set."""
        if self.pattern is None:
            return False
        matched = {
            t for t in cluster_topics
            if self.pattern.fullmatch(t) and not (exclude_internal and t.startswith("__"))
        }
        if matched == self.topics:
            return False
        self.topics = matched
        self.version += 1
        return True

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Take exactly ``partitions`` by hand (no group membership)."""
        wanted = list(dict.fromkeys(partitions))
        self._set_mode(SubscriptionMode.MANUAL if wanted else SubscriptionMode.NONE)
        self.topics = {tp.topic for tp in wanted}
        self.set_assignment(wanted)

    def unsubscribe(self) -> None:
        """Drop the subscription and every assigned partition."""
        self.mode = SubscriptionMode.NONE
        self.topics = set()
        self.pattern = None
        self.listener = None
        self.set_assignment([])

    @property
    def group_managed(self) -> bool:
        """Whether the group chooses the partitions (subscribe by topics or pattern)."""
        return self.mode in (SubscriptionMode.TOPICS, SubscriptionMode.PATTERN)

    # -- what the consumer holds

    def set_assignment(self, partitions: Iterable[TopicPartition]) -> None:
        """Hold exactly ``partitions``; kept ones keep their state, new ones need a position."""
        old = self._assignment
        new: dict[TopicPartition, PartitionState] = {}
        for tp in partitions:
            state = old.get(tp)
            if state is None:
                state = PartitionState(
                    None if self.uses_group else self.default_reset, self.uses_group
                )
            new[tp] = state
        for tp, state in old.items():
            if tp not in new:
                state.seq += 1  # anything still in flight for it is now stale
        self._assignment = new

    def assigned(self) -> list[TopicPartition]:
        """The assigned partitions, in assignment order."""
        return list(self._assignment)

    def is_assigned(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` is currently assigned."""
        return tp in self._assignment

    def state(self, tp: TopicPartition) -> PartitionState:
        """The state of an assigned partition; KeyError naming it otherwise."""
        try:
            return self._assignment[tp]
        except KeyError:
            raise KeyError(f"partition {tp.topic}-{tp.partition} is not assigned") from None

    def get(self, tp: TopicPartition) -> PartitionState | None:
        """The state of ``tp``, or None when it is not assigned."""
        return self._assignment.get(tp)

    def items(self) -> list[tuple[TopicPartition, PartitionState]]:
        """(partition, state) pairs of the assignment."""
        return list(self._assignment.items())

    # -- positions

    def seek(self, tp: TopicPartition, offset: int, epoch: int = -1) -> None:
        """Make ``offset`` the next offset returned for ``tp``."""
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        self.state(tp).set_position(offset, epoch)

    def request_reset(self, tps: Iterable[TopicPartition], strategy: str) -> None:
        """Look ``tps``' positions up again by ``strategy`` ("earliest" or "latest")."""
        for tp in tps:
            self.state(tp).request_reset(strategy)

    def fetchable(self) -> list[TopicPartition]:
        """Partitions with a position, not paused and not awaiting validation."""
        return [tp for tp, s in self._assignment.items() if s.fetchable]

    def missing_positions(self) -> list[TopicPartition]:
        """Partitions that wait for a committed offset or a reset."""
        return [tp for tp, s in self._assignment.items() if s.position is None]

    def awaiting_validation(self) -> list[TopicPartition]:
        """Partitions whose position must be checked against the leader's log."""
        return [tp for tp, s in self._assignment.items() if s.awaiting_validation]

    def consumed_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """The offsets a commit stores now: every known position."""
        return {
            tp: OffsetAndMetadata(s.position, "", s.position_epoch)
            for tp, s in self._assignment.items()
            if s.position is not None
        }

    def mark_processed(self) -> None:
        """Record the current positions as processed (the application asked for more)."""
        for state in self._assignment.values():
            if state.position is not None:
                state.processed = (state.position, state.position_epoch)

    def processed_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """The offsets auto-commit stores: positions as of the last poll."""
        return {
            tp: OffsetAndMetadata(s.processed[0], "", s.processed[1])
            for tp, s in self._assignment.items()
            if s.processed is not None
        }

    def pause(self, tps: Iterable[TopicPartition]) -> None:
        """Stop fetching and returning ``tps`` until resumed; buffered data is dropped."""
        for tp in tps:
            state = self.state(tp)
            if not state.paused:
                state.paused = True
                if state.position is not None:
                    state.rewind_fetch()

    def resume(self, tps: Iterable[TopicPartition]) -> None:
        """Fetch ``tps`` again."""
        for tp in tps:
            self.state(tp).paused = False

    def paused(self) -> set[TopicPartition]:
        """The paused partitions."""
        return {tp for tp, s in self._assignment.items() if s.paused}
