"""The ``range`` assignor: each topic's partitions cut into contiguous runs, one per member.

For every topic on its own: the members subscribed to it in Kafka's member order, the
partitions in numeric order; with ``n`` partitions and ``c`` members each member gets
``n // c`` and the first ``n % c`` members one more. The same member therefore gets partition 0
of every topic with equal partition counts, which co-partitioned joins rely on.
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

__all__ = ["RangeAssignor"]


class RangeAssignor(Assignor):
    """Kafka's RangeAssignor (without rack awareness)."""

    name = "range"

    def assign(
        self, partitions_per_topic: Mapping[str, int], members: list[GroupMember]
    ) -> dict[str, Assignment]:
        result = empty_assignments(members)
        ordered = sorted(members, key=member_sort_key)
        for topic in sorted({t for m in members for t in m.subscription.topics}):
            count = partitions_per_topic.get(topic)
            if not count:
                continue
            consumers = [m.member_id for m in ordered if topic in m.subscription.topics]
            share, extra = divmod(count, len(consumers))
            for index, member_id in enumerate(consumers):
                start = share * index + min(index, extra)
                length = share + (1 if index < extra else 0)
                result[member_id].extend(
                    TopicPartition(topic, p) for p in range(start, start + length)
                )
        return to_assignments(result)
