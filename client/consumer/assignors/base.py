"""What every partition assignor shares: the member view it is given and the interface.

The leader of a group runs one assignor, the one the coordinator picked from the protocols all
members offered; its output goes to every member through SyncGroup. Because members may be
other Kafka clients, an assignor only reads what the consumer protocol carries (see
``client.consumer.formats``) and orders members the way Kafka's assignors do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from client.consumer.formats import Assignment, Subscription
from client.consumer.structs import TopicPartition

__all__ = ["Assignor", "GroupMember", "RebalanceProtocol", "member_sort_key"]


class RebalanceProtocol(Enum):
    """EAGER: members give up everything before a rebalance. COOPERATIVE: only what moves."""

    EAGER = "eager"
    COOPERATIVE = "cooperative"


@dataclass
class GroupMember:
    """One member of the group as the leader sees it in the JoinGroup response."""

    member_id: str
    subscription: Subscription
    group_instance_id: str | None = None


def member_sort_key(member: GroupMember) -> tuple[int, str]:
    """Kafka's member order: static members first, by instance id, then dynamic ones by id."""
    if member.group_instance_id is not None:
        return (0, member.group_instance_id)
    return (1, member.member_id)


class Assignor(ABC):
    """A partition assignment strategy, named as every Kafka client names it."""

    name: str = ""
    protocols: tuple[RebalanceProtocol, ...] = (RebalanceProtocol.EAGER,)

    def user_data(self, generation_id: int) -> bytes | None:
        """Assignor bytes for this member's subscription (``generation_id``: its current one)."""
        return b""

    @abstractmethod
    def assign(
        self, partitions_per_topic: Mapping[str, int], members: list[GroupMember]
    ) -> dict[str, Assignment]:
        """Every member's assignment, keyed by member id (members with nothing get an empty
        one). ``partitions_per_topic`` holds the partition count of each subscribed topic the
        cluster knows; topics it lacks are left unassigned."""

    def on_assignment(self, assignment: Assignment, generation_id: int) -> None:
        """Called on every member with the assignment it received (stateful assignors only)."""


def subscribed_topics(members: list[GroupMember], known: Mapping[str, int]) -> dict[str, set[str]]:
    """member id -> the topics it subscribes to that exist in ``known``."""
    return {m.member_id: {t for t in m.subscription.topics if t in known} for m in members}


def empty_assignments(members: list[GroupMember]) -> dict[str, list[TopicPartition]]:
    """member id -> an empty list, for every member."""
    return {m.member_id: [] for m in members}


def to_assignments(result: Mapping[str, list[TopicPartition]]) -> dict[str, Assignment]:
    """Wrap plain partition lists as Assignments."""
    return {member: Assignment(list(parts)) for member, parts in result.items()}
