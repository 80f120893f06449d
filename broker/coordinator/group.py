"""A consumer group's live state: members, the generation being formed, who is waiting.

Kafka's classic group protocol. A group moves through these states:

* ``Empty``: no members (it may still hold committed offsets).
* ``PreparingRebalance``: JoinGroup responses are held until every member has rejoined or
  the rebalance timeout passes.
* ``CompletingRebalance``: the generation is fixed; members are waiting for the leader's
  assignment (SyncGroup).
* ``Stable``: every member has an assignment; heartbeats keep members alive.
* ``Dead``: deleted, or expired with no offsets left; the object is no longer reachable.

Only the generation that reached ``Stable`` or ``Empty`` is durable (the group metadata
record); a rebalance in progress is not, as in Kafka: after a restart the group is back in the
last stored generation and its members rejoin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from broker.coordinator.formats import GroupValue, StoredMember


class GroupState(str, Enum):
    """Group states; the values are the names DescribeGroups and ListGroups report."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_VALID_FROM: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(
        {
            GroupState.EMPTY,
            GroupState.PREPARING_REBALANCE,
            GroupState.COMPLETING_REBALANCE,
            GroupState.STABLE,
        }
    ),
}


class IllegalTransition(RuntimeError):
    """A state change the group protocol does not allow: a coordinator bug."""


@dataclass(eq=False)
class Member:
    """One member of a group.

    ``join_ticket`` / ``sync_ticket`` name the held JoinGroup / SyncGroup request of this
    member, if any; a member with a held request is never expired by its session timeout.
    ``protocols`` are the member's (name, metadata) pairs in its order of preference; the
    metadata is opaque and carried byte for byte.
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_ticket: int | None = None
    sync_ticket: int | None = None
    session_deadline: int = 0

    def metadata(self, protocol: str | None) -> bytes:
        """This member's metadata for ``protocol`` (empty when it does not support it)."""
        for name, data in self.protocols:
            if name == protocol:
                return data
        return b""

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among ``candidates``."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError("member supports none of the candidate protocols")


@dataclass(eq=False)
class Group:
    """The live state of one group; the coordinator is the only writer."""

    group_id: str
    state_timestamp: int
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    # Member ids handed out with MEMBER_ID_REQUIRED, each with the deadline to rejoin.
    pending_members: dict[str, int] = field(default_factory=dict)
    # Members of the current generation that have not sent SyncGroup yet.
    pending_sync: set[str] = field(default_factory=set)
    join_deadline: int | None = None
    sync_deadline: int | None = None
    # The first rebalance of an empty group waits for more members (initial delay).
    initial_delay: bool = False
    new_member_added: bool = False
    delay_remaining_ms: int = 0

    def transition(self, to: GroupState, now_ms: int) -> None:
        """Move to state ``to``, refusing moves the protocol does not allow."""
        if self.state not in _VALID_FROM[to]:
            raise IllegalTransition(f"group {self.group_id!r}: {self.state.value} -> {to.value}")
        self.state = to
        self.state_timestamp = now_ms

    def add(self, member: Member) -> None:
        """Add ``member``; the first member of an empty group becomes its leader."""
        if not self.members:
            self.leader = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id

    def remove(self, member_id: str) -> Member:
        """Remove a member; if it led the group, the next member in join order leads."""
        member = self.members.pop(member_id)
        if member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        self.pending_sync.discard(member_id)
        if self.leader == member_id:
            self.leader = next(iter(self.members), None)
        return member

    def is_fenced(self, member_id: str, group_instance_id: str | None) -> bool:
        """True when ``group_instance_id`` now belongs to another member id."""
        if group_instance_id is None:
            return False
        owner = self.static_members.get(group_instance_id)
        return owner is not None and owner != member_id

    def max_rebalance_timeout_ms(self) -> int:
        """The longest rebalance timeout among members (how long a join may be held)."""
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def all_joined(self) -> bool:
        """Every member is waiting in JoinGroup and no handed-out member id is outstanding."""
        return not self.pending_members and all(
            m.join_ticket is not None for m in self.members.values()
        )

    def supports(
        self, protocol_type: str, protocols: list[tuple[str, bytes]], joining: str
    ) -> bool:
        """Whether a member (``joining`` = its id, or "") with these protocols may join."""
        if not protocol_type or not protocols:
            return False
        others = [m for mid, m in self.members.items() if mid != joining]
        if not others:
            return True
        if protocol_type != self.protocol_type:
            return False
        common = self._common(others)
        return any(name in common for name, _ in protocols)

    @staticmethod
    def _common(members: list[Member]) -> set[str]:
        it = iter(members)
        common = {name for name, _ in next(it).protocols}
        for m in it:
            common &= {name for name, _ in m.protocols}
        return common

    def select_protocol(self) -> str:
        """The protocol for the next generation: supported by every member, chosen by the
        members' first preferences among those; ties go to the protocol listed first by the
        earliest member."""
        members = list(self.members.values())
        candidates = self._common(members)
        votes: dict[str, int] = {}
        for m in members:
            choice = m.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        best = max(votes.values())
        for name, _ in members[0].protocols:
            if votes.get(name) == best:
                return name
        raise AssertionError("a voted protocol is missing from the first member")

    def to_stored(self) -> GroupValue:
        """The group metadata value describing the current generation."""
        return GroupValue(
            protocol_type=self.protocol_type or "",
            generation=self.generation,
            protocol=self.protocol,
            leader=self.leader,
            current_state_timestamp=self.state_timestamp,
            members=tuple(
                StoredMember(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.rebalance_timeout_ms,
                    m.session_timeout_ms,
                    m.metadata(self.protocol),
                    m.assignment,
                )
                for m in self.members.values()
            ),
        )

    @classmethod
    def from_stored(cls, group_id: str, value: GroupValue | None, now_ms: int) -> Group:
        """The live group after loading: Stable with the stored members, or Empty."""
        if value is None:
            return cls(group_id, state_timestamp=-1)
        group = cls(
            group_id,
            state_timestamp=value.current_state_timestamp,
            generation=value.generation,
            protocol_type=value.protocol_type,
            protocol=value.protocol,
        )
        for sm in value.members:
            protocols = [(value.protocol, sm.subscription)] if value.protocol is not None else []
            member = Member(
                sm.member_id,
                sm.group_instance_id,
                sm.client_id,
                sm.client_host,
                sm.rebalance_timeout_ms,
                sm.session_timeout_ms,
                protocols,
                assignment=sm.assignment,
                session_deadline=now_ms + sm.session_timeout_ms,
            )
            group.add(member)
        if group.members:
            group.leader = value.leader if value.leader in group.members else group.leader
            group.state = GroupState.STABLE
        return group
