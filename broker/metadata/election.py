"""The controller's rules for a partition's leader and ISR, as pure functions.

``reconcile(state, version, brokers, unclean, preferred)`` answers the partition state the
controller should write, or None when the current one stands.  The facts it decides on:

* live: the broker is registered (its lease is alive);
* serving: live and not shutting down (controlled shutdown hands its leaderships away);
* fresh: registered before the partition state was written (registration version < state
  version).  A leader that is live but not fresh restarted since it was elected: its previous
  life's leadership ends, so the epoch moves on even when it is elected again.  A follower that
  is not fresh restarted and leaves the ISR; it rejoins once it has caught up with the leader.

Rules, in order:

1. A leader that is serving and fresh keeps the partition.  Otherwise a new leader comes from
   the ISR, in replica order: a serving fresh member first, then a serving restarted one, then
   any live member (the last ISR member shutting down keeps its leadership: there is no one to
   hand it to).  None in the ISR: with ``unclean`` the first serving replica, and the ISR
   becomes that replica alone (records only the old ISR had may be lost); without it the
   partition goes offline (leader -1) and keeps its ISR, waiting for one of them to return.
2. Every change of leader, and the re-election of a restarted leader, raises the leader epoch
   by one; ISR-only changes keep it.
3. The ISR keeps the leader and the serving fresh members; it never becomes empty.
4. With ``preferred`` (the periodic preferred-leader check), a partition whose first replica
   is serving, fresh, in the ISR and not the leader moves back to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from broker.metadata.membership import BrokerInfo
from broker.metadata.records import PartitionState


def reconcile(
    state: PartitionState,
    version: int,
    brokers: Mapping[int, BrokerInfo],
    *,
    unclean: bool = False,
    preferred: bool = False,
) -> PartitionState | None:
    """The state to write for ``state`` (stored at ``version``), or None when it stands."""

    def live(node: int) -> bool:
        return node in brokers

    def serving(node: int) -> bool:
        return node in brokers and not brokers[node].shutting_down

    def fresh(node: int) -> bool:
        return node in brokers and brokers[node].version < version

    leader = state.leader
    keep = leader != -1 and serving(leader) and fresh(leader)
    isr = state.isr
    new_leader = leader if keep else -1
    unclean_pick = False
    if not keep:
        for tier in (
            lambda n: serving(n) and fresh(n),
            serving,
            live,
        ):
            new_leader = next((r for r in state.replicas if r in isr and tier(r)), -1)
            if new_leader != -1:
                break
        if new_leader == -1 and unclean:
            new_leader = next((r for r in state.replicas if serving(r)), -1)
            unclean_pick = new_leader != -1
    elif preferred and state.replicas:
        first = state.replicas[0]
        if first != leader and first in isr and serving(first) and fresh(first):
            new_leader = first

    if new_leader == -1:
        # Offline: nobody to lead.  The ISR stays as it was so that one of its members, and
        # no one else, can take over when it comes back.
        if leader == -1:
            return None
        return _changed(state, PartitionState(
            state.topic, state.partition, state.replicas, -1, state.leader_epoch + 1, isr
        ))
    if unclean_pick:
        new_isr: tuple[int, ...] = (new_leader,)
    else:
        new_isr = tuple(r for r in isr if r == new_leader or (serving(r) and fresh(r)))
    epoch = state.leader_epoch
    if new_leader != leader or not fresh(leader):
        epoch += 1
    return _changed(state, PartitionState(
        state.topic, state.partition, state.replicas, new_leader, epoch, new_isr
    ))


def _changed(old: PartitionState, new: PartitionState) -> PartitionState | None:
    return None if new == old else new


def leaders_of(states: list[PartitionState], node_id: int) -> list[PartitionState]:
    """The partitions ``node_id`` leads."""
    return [s for s in states if s.leader == node_id]
