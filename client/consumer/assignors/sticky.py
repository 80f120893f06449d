"""The ``cooperative-sticky`` assignor: balanced, moves as little as it can, in two phases.

Kafka's sticky assignment, as Java's and librdkafka's cooperative-sticky compute it:

1. What each member owns now comes from its subscription (``owned_partitions``, with the
   generation it was assigned in). When several members claim one partition, the claim of the
   highest generation stands; a tie at that generation invalidates the partition for all of
   them. A claim on a topic the member no longer subscribes to, or on a partition that no
   longer exists, is dropped.
2. With identical subscriptions, quotas decide: ``n`` partitions over ``m`` members give each
   ``n // m`` and ``n % m`` members one more. Owners keep up to their quota of what they hold;
   the rest, and every unowned partition, fill the members below quota in turn.
   With differing subscriptions, owners keep what they may still hold, free partitions go
   (fewest eligible members first) to the least loaded eligible member, then partitions move
   from the most to the least loaded eligible members until no move narrows the gap.
3. Cooperative protocol: a partition that some other member still claims is left out of its
   new owner's assignment for now. The previous owner sees it gone, revokes it and rejoins;
   in the next rebalance nobody claims it and it is handed over. No partition is ever
   assigned to one member while another may still be consuming it.

Each member's subscription also carries its generation as a 4-byte user data, which is where
older Java clients read it.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping

from client.consumer.assignors.base import (
    Assignor,
    GroupMember,
    RebalanceProtocol,
    member_sort_key,
    to_assignments,
)
from client.consumer.formats import Assignment, Subscription
from client.consumer.structs import TopicPartition

__all__ = ["CooperativeStickyAssignor", "member_generation", "sticky_assignment"]

_INT32 = struct.Struct(">i")
_INT16 = struct.Struct(">h")


def _sticky_user_data_generation(data: bytes) -> int | None:
    """Generation from the sticky assignor's user data (previous assignment, then int32)."""
    try:
        (count,) = _INT32.unpack_from(data, 0)
        pos = 4
        if count < 0 or count > len(data):
            return None
        for _ in range(count):
            (size,) = _INT16.unpack_from(data, pos)
            pos += 2 + max(size, 0)
            (parts,) = _INT32.unpack_from(data, pos)
            if parts < 0:
                return None
            pos += 4 + 4 * parts
        (generation,) = _INT32.unpack_from(data, pos)
    except struct.error:
        return None
    return generation if pos + 4 == len(data) else None


def member_generation(subscription: Subscription) -> int:
    """The generation a member's owned partitions belong to (-1 when it says nothing).

    Subscriptions of version 2+ carry it; older ones may carry it in the user data, either
    alone (Java's cooperative-sticky) or after the previous assignment (the sticky format).
    """
    if subscription.generation_id >= 0:
        return subscription.generation_id
    data = subscription.user_data
    if not data:
        return -1
    if len(data) == 4:
        return _INT32.unpack(data)[0]
    generation = _sticky_user_data_generation(bytes(data))
    return -1 if generation is None else generation


def _valid_owned(
    members: list[GroupMember], eligible: dict[str, set[str]], counts: Mapping[str, int]
) -> dict[str, list[TopicPartition]]:
    """member id -> the owned partitions it may keep (step 1 of the module docstring)."""
    best: dict[TopicPartition, tuple[int, list[str]]] = {}
    for member in members:
        generation = member_generation(member.subscription)
        topics = eligible[member.member_id]
        for tp in dict.fromkeys(member.subscription.owned_partitions):
            if tp.topic not in topics or not 0 <= tp.partition < counts[tp.topic]:
                continue
            current = best.get(tp)
            if current is None or generation > current[0]:
                best[tp] = (generation, [member.member_id])
            elif generation == current[0]:
                current[1].append(member.member_id)
    kept: dict[str, list[TopicPartition]] = {m.member_id: [] for m in members}
    for tp, (_, owners) in best.items():
        if len(owners) == 1:
            kept[owners[0]].append(tp)
    for parts in kept.values():
        parts.sort()
    return kept


def _constrained(
    ordered: list[str], owned: dict[str, list[TopicPartition]], partitions: list[TopicPartition]
) -> dict[str, list[TopicPartition]]:
    """Quota-based assignment when every member may take every partition."""
    minimum, extra = divmod(len(partitions), len(ordered))
    maximum = minimum + (1 if extra else 0)
    result: dict[str, list[TopicPartition]] = {m: [] for m in ordered}
    above_minimum = 0
    # Larger owners first, so the members allowed one extra partition are ones that hold it.
    for member in sorted(ordered, key=lambda m: -len(owned[m])):
        held = owned[member]
        if len(held) >= maximum and above_minimum < extra:
            result[member] = held[:maximum]
            above_minimum += 1
        else:
            result[member] = held[:minimum]
    taken = {tp for parts in result.values() for tp in parts}
    free = [tp for tp in partitions if tp not in taken]
    below = deque(m for m in ordered if len(result[m]) < minimum)
    at_minimum = [m for m in ordered if len(result[m]) == minimum]
    index = 0
    # One partition per member in turn, so consecutive partitions spread out.
    while index < len(free) and below:
        member = below.popleft()
        result[member].append(free[index])
        index += 1
        if len(result[member]) < minimum:
            below.append(member)
        else:
            at_minimum.append(member)
    for member in at_minimum:
        if index >= len(free) or above_minimum >= extra:
            break
        result[member].append(free[index])
        index += 1
        above_minimum += 1
    return result


def _general(
    ordered: list[str],
    owned: dict[str, list[TopicPartition]],
    partitions: list[TopicPartition],
    eligible: dict[str, set[str]],
) -> dict[str, list[TopicPartition]]:
    """Assignment when members subscribe to different topics."""
    rank = {m: i for i, m in enumerate(ordered)}
    consumers_of: dict[TopicPartition, list[str]] = {
        tp: [m for m in ordered if tp.topic in eligible[m]] for tp in partitions
    }
    result = {m: list(owned[m]) for m in ordered}
    taken = {tp for parts in result.values() for tp in parts}
    free = sorted(
        (tp for tp in partitions if tp not in taken and consumers_of[tp]),
        key=lambda tp: (len(consumers_of[tp]), tp),
    )
    for tp in free:
        target = min(consumers_of[tp], key=lambda m: (len(result[m]), rank[m]))
        result[target].append(tp)
    # Moves go from the most loaded member to a member with at least two fewer partitions;
    # each strictly lowers the sum of squared loads, so the loop ends.
    while True:
        moved = False
        for member in sorted(ordered, key=lambda m: (-len(result[m]), rank[m])):
            load = len(result[member])
            kept = set(owned[member])
            # Partitions the member did not own before are the cheapest to move.
            for tp in sorted(result[member], key=lambda t: (t in kept, t)):
                candidates = [m for m in consumers_of[tp] if len(result[m]) < load - 1]
                if candidates:
                    target = min(candidates, key=lambda m: (len(result[m]), rank[m]))
                    result[member].remove(tp)
                    result[target].append(tp)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return result


def sticky_assignment(
    partitions_per_topic: Mapping[str, int], members: list[GroupMember]
) -> dict[str, list[TopicPartition]]:
    """The balanced sticky target assignment, before the cooperative hold-back."""
    ordered_members = sorted(members, key=member_sort_key)
    ordered = [m.member_id for m in ordered_members]
    eligible = {
        m.member_id: {t for t in m.subscription.topics if partitions_per_topic.get(t)}
        for m in members
    }
    topics = sorted(set().union(*eligible.values())) if eligible else []
    partitions = [TopicPartition(t, p) for t in topics for p in range(partitions_per_topic[t])]
    owned = _valid_owned(members, eligible, partitions_per_topic)
    if not ordered:
        return {}
    if len({frozenset(t) for t in eligible.values()}) == 1 and partitions:
        result = _constrained(ordered, owned, partitions)
    else:
        result = _general(ordered, owned, partitions, eligible)
    for parts in result.values():
        parts.sort()
    return result


class CooperativeStickyAssignor(Assignor):
    """Kafka's CooperativeStickyAssignor (see the module docstring)."""

    name = "cooperative-sticky"
    protocols = (RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER)

    def user_data(self, generation_id: int) -> bytes | None:
        return _INT32.pack(generation_id)

    def assign(
        self, partitions_per_topic: Mapping[str, int], members: list[GroupMember]
    ) -> dict[str, Assignment]:
        target = sticky_assignment(partitions_per_topic, members)
        claimed_by: dict[TopicPartition, set[str]] = {}
        for member in members:
            for tp in member.subscription.owned_partitions:
                claimed_by.setdefault(tp, set()).add(member.member_id)
        first_phase = {
            member_id: [tp for tp in parts if claimed_by.get(tp, {member_id}) <= {member_id}]
            for member_id, parts in target.items()
        }
        return to_assignments(first_phase)
