"""The ``roundrobin`` assignor: all partitions dealt out one at a time, like cards.

Partitions of every subscribed topic, sorted by topic then partition, go in turn to the members
in Kafka's member order; a member not subscribed to a partition's topic is skipped for that
partition, and the turn continues from where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping

from client.consumer.assignors.base import (
    Assignor,
    GroupMember,
    empty_assignments,
    member_sort_key,
    to_assignments,
)
from client.consumer.formats import Assignment
from client.consumer.structs import TopicPartition

__all__ = ["RoundRobinAssignor"]


class RoundRobinAssignor(Assignor):
    """Kafka's RoundRobinAssignor."""

    name = "roundrobin"

    def assign(
        self, partitions_per_topic: Mapping[str, int], members: list[GroupMember]
    ) -> dict[str, Assignment]:
        result = empty_assignments(members)
        ordered = sorted(members, key=member_sort_key)
        if not ordered:
            return {}
        topics_of = [set(m.subscription.topics) for m in ordered]
        turn = 0
        for topic in sorted({t for m in members for t in m.subscription.topics}):
            for partition in range(partitions_per_topic.get(topic, 0)):
                while topic not in topics_of[turn]:
                    turn = (turn + 1) % len(ordered)
                result[ordered[turn].member_id].append(TopicPartition(topic, partition))
                turn = (turn + 1) % len(ordered)
        return to_assignments(result)
