"""The group coordinator of one ``__consumer_offsets`` partition, as a pure state machine.

Nothing here does I/O or reads a clock. Every operation takes the request body (a dict keyed
by Kafka's snake_case field names), the request version where behaviour depends on it, and
``now_ms``; it returns a ``Result``:

* ``records``: (key, value) pairs to append to this partition of ``__consumer_offsets``, in
  order. The coordinator has already replayed them into its ``store``; durable state changes
  in no other way, and loading after a restart is the same replay.
* ``ticket``: the number of this request. Its response is in ``responses`` at once, or
  arrives in the ``responses`` of a later result (a held JoinGroup or SyncGroup).
* ``responses``: ticket -> response body, for this request and any held ones it released.

Responses must be sent only after ``records`` are appended. Time-driven work (held joins,
session and sync timeouts, the initial rebalance delay, offset expiry) is done by ``tick``;
``next_deadline`` says when ``tick`` must be called next.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.errors import ErrorCode
from broker.coordinator.formats import (
    GroupKey,
    OffsetKey,
    OffsetValue,
    encode_group_value,
    encode_key,
    encode_offset_value,
)
from broker.coordinator.group import Group, GroupState, Member
from broker.coordinator.store import CoordinatorStore
from broker.coordinator.subscription import subscribed_topics

Record = tuple[bytes, bytes | None]
Body = dict[str, Any]
MemberIdFactory = Callable[[str, str | None], str]

# DescribeGroups' value for "authorized operations not requested".
_NO_AUTHORIZED_OPERATIONS = -(2**31)

_SESSION = 0
_PENDING = 1
_JOIN = 2
_SYNC = 3
_EXPIRE = 4


def random_member_id(client_id: str, group_instance_id: str | None) -> str:
    """A fresh member id as Kafka forms it: instance id (or client id), dash, a UUID."""
    return f"{group_instance_id or client_id}-{uuid.uuid4()}"


@dataclass
class Result:
    """What one operation produced: records to append, then responses to send."""

    ticket: int
    records: list[Record] = field(default_factory=list)
    responses: dict[int, Body] = field(default_factory=dict)

    @property
    def response(self) -> Body | None:
        """This request's own response, or None while it is held."""
        return self.responses.get(self.ticket)


@dataclass(frozen=True)
class LeaveMember:
    """One member named by a LeaveGroup request (v3+ lists several; v0-2 name one)."""

    member_id: str
    group_instance_id: str | None = None


class GroupCoordinator:
    """All groups whose metadata lives in one partition of ``__consumer_offsets``."""

    def __init__(
        self,
        config: CoordinatorConfig | None = None,
        *,
        now_ms: int = 0,
        member_id_factory: MemberIdFactory = random_member_id,
    ) -> None:
        self.config = config or CoordinatorConfig()
        self.store = CoordinatorStore()
        self.groups: dict[str, Group] = {}
        self._new_member_id = member_id_factory
        self._timers: list[tuple[int, int, int, str, str]] = []
        self._timer_seq = 0
        self._next_ticket = 0
        self._result: Result | None = None
        self._next_expiry = now_ms + self.config.offsets_retention_check_interval_ms
        self._push(self._next_expiry, _EXPIRE, "", "")

    @classmethod
    def load(
        cls,
        records: Iterable[Record],
        config: CoordinatorConfig | None = None,
        *,
        now_ms: int = 0,
        member_id_factory: MemberIdFactory = random_member_id,
    ) -> GroupCoordinator:
        """A coordinator rebuilt by replaying a partition's records in offset order.

        Groups with members come back Stable in their stored generation, with fresh session
        deadlines; groups without come back Empty.
        """
        coordinator = cls(config, now_ms=now_ms, member_id_factory=member_id_factory)
        coordinator.store.load(records)
        for group_id in coordinator.store.group_ids():
            group = Group.from_stored(group_id, coordinator.store.groups.get(group_id), now_ms)
            coordinator.groups[group_id] = group
            for member in group.members.values():
                coordinator._push(member.session_deadline, _SESSION, group_id, member.member_id)
        return coordinator

    # ---------------------------------------------------------------- plumbing

    def _begin(self) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        self._result = Result(ticket)
        return ticket

    def _finish(self) -> Result:
        result = self._result
        assert result is not None
        self._result = None
        return result

    def _respond(self, ticket: int, body: Body) -> None:
        assert self._result is not None
        self._result.responses[ticket] = body

    def _emit(self, key: OffsetKey | GroupKey, value: bytes | None) -> None:
        assert self._result is not None
        raw_key = encode_key(key)
        self._result.records.append((raw_key, value))
        self.store.apply(raw_key, value)

    def _push(self, deadline: int, kind: int, group_id: str, member_id: str) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (deadline, self._timer_seq, kind, group_id, member_id))

    def _live(self, deadline: int, kind: int, group_id: str, member_id: str) -> bool:
        if kind == _EXPIRE:
            return deadline == self._next_expiry
        group = self.groups.get(group_id)
        if group is None:
            return False
        if kind == _SESSION:
            member = group.members.get(member_id)
            return member is not None and member.session_deadline == deadline
        if kind == _PENDING:
            return group.pending_members.get(member_id) == deadline
        if kind == _JOIN:
            return (
                group.state is GroupState.PREPARING_REBALANCE and group.join_deadline == deadline
            )
        return group.sync_deadline == deadline

    def next_deadline(self) -> int | None:
        """When ``tick`` must next be called (milliseconds, same clock as ``now_ms``)."""
        while self._timers:
            deadline, _seq, kind, group_id, member_id = self._timers[0]
            if self._live(deadline, kind, group_id, member_id):
                return deadline
            heapq.heappop(self._timers)
        return None

    def tick(self, now_ms: int) -> Result:
        """Run every timed action due at ``now_ms``: expire sessions, complete held joins,
        time out syncs, extend the initial delay, expire offsets."""
        self._begin()
        while self._timers and self._timers[0][0] <= now_ms:
            deadline, _seq, kind, group_id, member_id = heapq.heappop(self._timers)
            if not self._live(deadline, kind, group_id, member_id):
                continue
            if kind == _EXPIRE:
                self._expire_offsets(now_ms)
                continue
            group = self.groups[group_id]
            if kind == _SESSION:
                self._session_expired(group, group.members[member_id], now_ms)
            elif kind == _PENDING:
                del group.pending_members[member_id]
                self._try_complete_join(group, now_ms)
            elif kind == _JOIN:
                self._join_deadline_passed(group, now_ms)
            else:
                self._sync_deadline_passed(group, now_ms)
        return self._finish()

    def _schedule_session(self, group: Group, member: Member, now_ms: int) -> None:
        member.session_deadline = now_ms + member.session_timeout_ms
        self._push(member.session_deadline, _SESSION, group.group_id, member.member_id)

    # ---------------------------------------------------------------- JoinGroup

    def join_group(
        self,
        body: Body,
        version: int,
        now_ms: int,
        *,
        client_id: str = "",
        client_host: str = "",
    ) -> Result:
        """JoinGroup. The response is held until the rebalance completes, unless the member
        gets an answer at once (an error, MEMBER_ID_REQUIRED, or the current generation)."""
        ticket = self._begin()
        group_id: str = body["group_id"]
        member_id: str = body.get("member_id") or ""
        error = self._join(ticket, body, version, now_ms, client_id, client_host)
        if error is not None:
            self._respond(ticket, _join_error(error, member_id))
            group = self.groups.get(group_id)
            if (
                group is not None
                and group.state is GroupState.EMPTY
                and not group.members
                and not group.pending_members
                and group.generation == 0
                and group_id not in self.store.group_ids()
            ):
                del self.groups[group_id]
        return self._finish()

    def _join(
        self,
        ticket: int,
        body: Body,
        version: int,
        now_ms: int,
        client_id: str,
        client_host: str,
    ) -> ErrorCode | None:
        group_id: str = body["group_id"]
        member_id: str = body.get("member_id") or ""
        instance_id: str | None = body.get("group_instance_id")
        session_ms: int = body["session_timeout_ms"]
        rebalance_ms: int = body.get("rebalance_timeout_ms", -1)
        if rebalance_ms < 0:
            rebalance_ms = session_ms
        protocol_type: str = body["protocol_type"]
        protocols = [(p["name"], bytes(p["metadata"])) for p in body["protocols"]]

        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        cfg = self.config
        if not cfg.min_session_timeout_ms <= session_ms <= cfg.max_session_timeout_ms:
            return ErrorCode.INVALID_SESSION_TIMEOUT
        group = self.groups.get(group_id)
        if group is None:
            if member_id:
                return ErrorCode.UNKNOWN_MEMBER_ID
            group = Group(group_id, state_timestamp=now_ms)
            self.groups[group_id] = group
        if not group.supports(protocol_type, protocols, member_id):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL

        def new_member(mid: str) -> Member:
            return Member(
                mid, instance_id, client_id, client_host, rebalance_ms, session_ms, protocols,
                join_ticket=ticket,
            )

        if not member_id:
            if instance_id is not None and instance_id in group.static_members:
                new_id = self._new_member_id(client_id, instance_id)
                self._replace_static_member(group, new_member(new_id), ticket, now_ms)
                return None
            if len(group.members) + len(group.pending_members) >= cfg.max_group_size:
                return ErrorCode.GROUP_MAX_SIZE_REACHED
            new_id = self._new_member_id(client_id, instance_id)
            if instance_id is None and version >= 4:
                deadline = now_ms + session_ms
                group.pending_members[new_id] = deadline
                self._push(deadline, _PENDING, group_id, new_id)
                self._respond(ticket, _join_error(ErrorCode.MEMBER_ID_REQUIRED, new_id))
                return None
            self._add_member_and_rebalance(group, new_member(new_id), protocol_type, now_ms)
            return None

        if member_id in group.pending_members:
            del group.pending_members[member_id]
            self._add_member_and_rebalance(group, new_member(member_id), protocol_type, now_ms)
            return None
        if group.is_fenced(member_id, instance_id):
            return ErrorCode.FENCED_INSTANCE_ID
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID

        changed = member.protocols != protocols
        state = group.state
        if state is GroupState.PREPARING_REBALANCE:
            self._update_member(member, ticket, protocols, rebalance_ms, session_ms)
            self._try_complete_join(group, now_ms)
        elif state is GroupState.COMPLETING_REBALANCE and not changed:
            # The member lost its JoinGroup response: give it the current generation again.
            self._respond(ticket, self._join_response(group, member))
        elif state is GroupState.STABLE and not changed and member_id != group.leader:
            self._respond(ticket, self._join_response(group, member))
            self._schedule_session(group, member, now_ms)
        else:
            self._update_member(member, ticket, protocols, rebalance_ms, session_ms)
            self._prepare_rebalance(group, now_ms)
        return None

    @staticmethod
    def _update_member(
        member: Member,
        ticket: int,
        protocols: list[tuple[str, bytes]],
        rebalance_ms: int,
        session_ms: int,
    ) -> None:
        member.protocols = protocols
        member.rebalance_timeout_ms = rebalance_ms
        member.session_timeout_ms = session_ms
        member.join_ticket = ticket

    def _add_member_and_rebalance(
        self, group: Group, member: Member, protocol_type: str, now_ms: int
    ) -> None:
        if not group.members:
            group.protocol_type = protocol_type
        group.add(member)
        self._schedule_session(group, member, now_ms)
        if group.initial_delay:
            group.new_member_added = True
        if group.state is GroupState.PREPARING_REBALANCE:
            self._try_complete_join(group, now_ms)
        else:
            self._prepare_rebalance(group, now_ms)

    def _replace_static_member(
        self, group: Group, new: Member, ticket: int, now_ms: int
    ) -> None:
        """A static member rejoined with no member id: it takes over the old member's place.

        The old member id is fenced: its held requests end with FENCED_INSTANCE_ID. In Stable,
        when neither the chosen protocol nor this member's metadata for it changes, the group
        keeps its generation and assignment (stored again under the new id); otherwise the
        group rebalances.
        """
        assert new.group_instance_id is not None
        old_id = group.static_members[new.group_instance_id]
        old = group.members[old_id]
        for held in (old.join_ticket, old.sync_ticket):
            if held is not None:
                self._respond(held, _fenced_response(held, old))
        old.join_ticket = old.sync_ticket = None
        new.assignment = old.assignment
        # Keep the member's place in join order: leadership falls back by that order.
        group.members = {
            (new.member_id if mid == old_id else mid): (new if mid == old_id else m)
            for mid, m in group.members.items()
        }
        group.static_members[new.group_instance_id] = new.member_id
        if group.leader == old_id:
            group.leader = new.member_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new.member_id)
        self._schedule_session(group, new, now_ms)

        if group.state is GroupState.STABLE:
            same = group.select_protocol() == group.protocol and new.metadata(
                group.protocol
            ) == old.metadata(group.protocol)
            if same:
                new.join_ticket = None
                self._emit(GroupKey(group.group_id), encode_group_value(group.to_stored()))
                body = self._join_response(group, new)
                body["members"] = []
                self._respond(ticket, body)
                return
            self._prepare_rebalance(group, now_ms)
        elif group.state is GroupState.COMPLETING_REBALANCE:
            self._prepare_rebalance(group, now_ms)
        else:
            self._try_complete_join(group, now_ms)

    def _prepare_rebalance(self, group: Group, now_ms: int) -> None:
        if group.state is GroupState.COMPLETING_REBALANCE:
            for member in group.members.values():
                member.assignment = b""
                if member.sync_ticket is not None:
                    self._respond(
                        member.sync_ticket, _sync_response(ErrorCode.REBALANCE_IN_PROGRESS)
                    )
                    member.sync_ticket = None
        group.pending_sync.clear()
        group.sync_deadline = None
        initial_delay = self.config.initial_rebalance_delay_ms
        if group.state is GroupState.EMPTY and initial_delay > 0:
            group.initial_delay = True
            group.new_member_added = False
            group.delay_remaining_ms = max(group.max_rebalance_timeout_ms() - initial_delay, 0)
            group.join_deadline = now_ms + initial_delay
        else:
            group.initial_delay = False
            group.join_deadline = now_ms + group.max_rebalance_timeout_ms()
        group.transition(GroupState.PREPARING_REBALANCE, now_ms)
        self._push(group.join_deadline, _JOIN, group.group_id, "")
        self._try_complete_join(group, now_ms)

    def _try_complete_join(self, group: Group, now_ms: int) -> None:
        if (
            group.state is GroupState.PREPARING_REBALANCE
            and not group.initial_delay
            and group.all_joined()
        ):
            self._complete_join(group, now_ms)

    def _join_deadline_passed(self, group: Group, now_ms: int) -> None:
        if group.initial_delay and group.new_member_added and group.delay_remaining_ms > 0:
            delay = min(self.config.initial_rebalance_delay_ms, group.delay_remaining_ms)
            group.delay_remaining_ms -= delay
            group.new_member_added = False
            group.join_deadline = now_ms + delay
            self._push(group.join_deadline, _JOIN, group.group_id, "")
            return
        self._complete_join(group, now_ms)

    def _complete_join(self, group: Group, now_ms: int) -> None:
        group.initial_delay = False
        group.join_deadline = None
        # Dynamic members that did not rejoin in time leave; static ones keep their place
        # until their session expires.
        for member in list(group.members.values()):
            if member.join_ticket is None and member.group_instance_id is None:
                group.remove(member.member_id)
        if group.members and all(m.join_ticket is None for m in group.members.values()):
            # Only static members that have not rejoined remain: wait for them or for their
            # sessions to end.
            group.join_deadline = now_ms + max(group.max_rebalance_timeout_ms(), 1)
            self._push(group.join_deadline, _JOIN, group.group_id, "")
            return
        group.generation += 1
        if not group.members:
            group.protocol = None
            group.leader = None
            group.transition(GroupState.EMPTY, now_ms)
            self._emit(GroupKey(group.group_id), encode_group_value(group.to_stored()))
            return
        leader = group.members.get(group.leader or "")
        if leader is None or leader.join_ticket is None:
            group.leader = next(
                m.member_id for m in group.members.values() if m.join_ticket is not None
            )
        group.protocol = group.select_protocol()
        group.transition(GroupState.COMPLETING_REBALANCE, now_ms)
        group.pending_sync = set(group.members)
        group.sync_deadline = now_ms + group.max_rebalance_timeout_ms()
        self._push(group.sync_deadline, _SYNC, group.group_id, "")
        for member in group.members.values():
            if member.join_ticket is not None:
                self._respond(member.join_ticket, self._join_response(group, member))
                member.join_ticket = None
            self._schedule_session(group, member, now_ms)

    def _join_response(self, group: Group, member: Member) -> Body:
        is_leader = member.member_id == group.leader
        return {
            "throttle_time_ms": 0,
            "error_code": ErrorCode.NONE,
            "generation_id": group.generation,
            "protocol_type": group.protocol_type,
            "protocol_name": group.protocol or "",
            "leader": group.leader or "",
            "skip_assignment": False,
            "member_id": member.member_id,
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "metadata": m.metadata(group.protocol),
                }
                for m in group.members.values()
            ]
            if is_leader
            else [],
        }

    # ---------------------------------------------------------------- SyncGroup

    def sync_group(self, body: Body, version: int, now_ms: int) -> Result:
        """SyncGroup. A follower's response is held until the leader sends the assignment."""
        ticket = self._begin()
        error = self._sync(ticket, body, now_ms)
        if error is not None:
            self._respond(ticket, _sync_response(error))
        return self._finish()

    def _current_member(self, body: Body) -> tuple[Group, Member] | ErrorCode:
        """The group and member a SyncGroup or Heartbeat speaks for, or why it may not."""
        group = self.groups.get(body["group_id"])
        member_id: str = body.get("member_id") or ""
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_fenced(member_id, body.get("group_instance_id")):
            return ErrorCode.FENCED_INSTANCE_ID
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if body["generation_id"] != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        return group, member

    def _sync(self, ticket: int, body: Body, now_ms: int) -> ErrorCode | None:
        found = self._current_member(body)
        if isinstance(found, ErrorCode):
            return found
        group, member = found
        member_id = member.member_id
        protocol_type = body.get("protocol_type")
        protocol_name = body.get("protocol_name")
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol
        ):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if group.state is GroupState.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        if group.state is GroupState.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._synced(group, member_id)
        if group.state is GroupState.STABLE:
            self._respond(ticket, _sync_response(ErrorCode.NONE, group, member.assignment))
            self._schedule_session(group, member, now_ms)
            return None
        if member.sync_ticket is not None:
            self._respond(member.sync_ticket, _sync_response(ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_ticket = ticket
        if member_id == group.leader:
            given = {a["member_id"]: bytes(a["assignment"]) for a in body.get("assignments", [])}
            for m in group.members.values():
                m.assignment = given.get(m.member_id, b"")
            group.transition(GroupState.STABLE, now_ms)
            self._emit(GroupKey(group.group_id), encode_group_value(group.to_stored()))
            for m in group.members.values():
                if m.sync_ticket is not None:
                    body = _sync_response(ErrorCode.NONE, group, m.assignment)
                    self._respond(m.sync_ticket, body)
                    m.sync_ticket = None
                    self._schedule_session(group, m, now_ms)
        return None

    def _synced(self, group: Group, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            group.sync_deadline = None

    def _sync_deadline_passed(self, group: Group, now_ms: int) -> None:
        group.sync_deadline = None
        late = [mid for mid in group.pending_sync if mid in group.members]
        if not late:
            return
        for member_id in late:
            self._drop_member(group, group.members[member_id])
        self._rebalance_after_removal(group, now_ms)

    # ---------------------------------------------------------------- Heartbeat

    def heartbeat(self, body: Body, version: int, now_ms: int) -> Result:
        """Heartbeat: keeps a member's session alive and tells it when to rejoin."""
        ticket = self._begin()
        self._respond(ticket, {"throttle_time_ms": 0, "error_code": self._heartbeat(body, now_ms)})
        return self._finish()

    def _heartbeat(self, body: Body, now_ms: int) -> ErrorCode:
        found = self._current_member(body)
        if isinstance(found, ErrorCode):
            return found
        group, member = found
        self._schedule_session(group, member, now_ms)
        if group.state is GroupState.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def _session_expired(self, group: Group, member: Member, now_ms: int) -> None:
        if member.join_ticket is not None or member.sync_ticket is not None:
            # Waiting in JoinGroup or SyncGroup is being alive.
            self._schedule_session(group, member, now_ms)
            return
        self._drop_member(group, member)
        self._rebalance_after_removal(group, now_ms)

    # ---------------------------------------------------------------- LeaveGroup

    def leave_group(self, body: Body, version: int, now_ms: int) -> Result:
        """LeaveGroup: v0-2 name one member by ``member_id``; v3+ list ``members``, each
        answered on its own."""
        ticket = self._begin()
        if version >= 3:
            leaving = [
                LeaveMember(m.get("member_id") or "", m.get("group_instance_id"))
                for m in body.get("members", [])
            ]
        else:
            leaving = [LeaveMember(body.get("member_id") or "")]
        top, errors = self._leave_members(body["group_id"], leaving, now_ms)
        if version >= 3:
            response: Body = {
                "throttle_time_ms": 0,
                "error_code": top,
                "members": [
                    {
                        "member_id": who.member_id,
                        "group_instance_id": who.group_instance_id,
                        "error_code": err,
                    }
                    for who, err in zip(leaving, errors)
                ],
            }
        else:
            response = {"throttle_time_ms": 0, "error_code": top if top else errors[0]}
        self._respond(ticket, response)
        return self._finish()

    def _leave_members(
        self, group_id: str, leaving: list[LeaveMember], now_ms: int
    ) -> tuple[ErrorCode, list[ErrorCode]]:
        """Remove members from a group: (group-level error, one error per member)."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, [ErrorCode.UNKNOWN_MEMBER_ID] * len(leaving)
        errors: list[ErrorCode] = []
        removed = False
        pending_removed = False
        for who in leaving:
            member_id = who.member_id
            if who.group_instance_id is not None:
                owner = group.static_members.get(who.group_instance_id)
                if owner is None:
                    errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                if member_id and member_id != owner:
                    errors.append(ErrorCode.FENCED_INSTANCE_ID)
                    continue
                member_id = owner
            if member_id in group.pending_members:
                del group.pending_members[member_id]
                pending_removed = True
                errors.append(ErrorCode.NONE)
                continue
            member = group.members.get(member_id)
            if member is None:
                errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            self._drop_member(group, member)
            removed = True
            errors.append(ErrorCode.NONE)
        if removed:
            self._rebalance_after_removal(group, now_ms)
        elif pending_removed:
            self._try_complete_join(group, now_ms)
        return ErrorCode.NONE, errors

    def _drop_member(self, group: Group, member: Member) -> None:
        for held in (member.join_ticket, member.sync_ticket):
            if held is not None:
                body = (
                    _join_error(ErrorCode.UNKNOWN_MEMBER_ID, member.member_id)
                    if held == member.join_ticket
                    else _sync_response(ErrorCode.UNKNOWN_MEMBER_ID)
                )
                self._respond(held, body)
        member.join_ticket = member.sync_ticket = None
        group.remove(member.member_id)

    def _rebalance_after_removal(self, group: Group, now_ms: int) -> None:
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, now_ms)
        elif group.state is GroupState.PREPARING_REBALANCE:
            self._try_complete_join(group, now_ms)

    # ---------------------------------------------------------------- offsets

    def commit_offsets(self, body: Body, version: int, now_ms: int) -> Result:
        """OffsetCommit. Members commit in their generation; generation -1 commits
        ("simple" consumers, admin tools) are accepted only while the group is Empty."""
        ticket = self._begin()
        group_id: str = body["group_id"]
        error = self._validate_commit(body, now_ms)
        topics = []
        for topic in body.get("topics", []):
            parts = []
            for p in topic.get("partitions", []):
                code = error
                metadata = p.get("committed_metadata") or ""
                too_large = len(metadata.encode()) > self.config.offset_metadata_max_bytes
                if code is ErrorCode.NONE and too_large:
                    code = ErrorCode.OFFSET_METADATA_TOO_LARGE
                if code is ErrorCode.NONE:
                    value = OffsetValue(
                        p["committed_offset"], p.get("committed_leader_epoch", -1), metadata, now_ms
                    )
                    self._emit(
                        OffsetKey(group_id, topic["name"], p["partition_index"]),
                        encode_offset_value(value),
                    )
                parts.append({"partition_index": p["partition_index"], "error_code": code})
            topics.append({"name": topic["name"], "partitions": parts})
        self._respond(ticket, {"throttle_time_ms": 0, "topics": topics})
        return self._finish()

    def _validate_commit(self, body: Body, now_ms: int) -> ErrorCode:
        group_id: str = body["group_id"]
        generation: int = body.get("generation_id_or_member_epoch", -1)
        member_id: str = body.get("member_id") or ""
        instance_id: str | None = body.get("group_instance_id")
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            if generation >= 0:
                return ErrorCode.ILLEGAL_GENERATION
            group = Group(group_id, state_timestamp=now_ms)
            self.groups[group_id] = group
        if generation < 0 and group.state is GroupState.EMPTY:
            return ErrorCode.NONE
        if generation >= 0 or member_id or instance_id is not None:
            if group.is_fenced(member_id, instance_id):
                return ErrorCode.FENCED_INSTANCE_ID
            if member_id not in group.members:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if generation != group.generation:
                return ErrorCode.ILLEGAL_GENERATION
        else:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state is GroupState.COMPLETING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def fetch_offsets(self, body: Body, version: int, now_ms: int) -> Result:
        """OffsetFetch for one group: the listed partitions, or all when ``topics`` is None.
        A partition without a committed offset answers offset -1 and no error."""
        ticket = self._begin()
        committed = self.store.offsets.get(body["group_id"], {})
        wanted = body.get("topics")
        topics: list[Body] = []
        if wanted is None:
            by_topic: dict[str, list[int]] = {}
            for topic, partition in sorted(committed):
                by_topic.setdefault(topic, []).append(partition)
            requested = list(by_topic.items())
        else:
            requested = [(t["name"], list(t.get("partition_indexes", []))) for t in wanted]
        for name, partitions in requested:
            parts = []
            for partition in partitions:
                value = committed.get((name, partition))
                parts.append(
                    {
                        "partition_index": partition,
                        "committed_offset": value.offset if value else -1,
                        "committed_leader_epoch": value.leader_epoch if value else -1,
                        "metadata": value.metadata if value else "",
                        "error_code": ErrorCode.NONE,
                    }
                )
            topics.append({"name": name, "partitions": parts})
        self._respond(
            ticket, {"throttle_time_ms": 0, "topics": topics, "error_code": ErrorCode.NONE}
        )
        return self._finish()

    def delete_offsets(self, body: Body, version: int, now_ms: int) -> Result:
        """OffsetDelete: refused per topic while a member of the group subscribes to it."""
        ticket = self._begin()
        group = self.groups.get(body["group_id"])
        if group is None:
            self._respond(
                ticket,
                {"error_code": ErrorCode.GROUP_ID_NOT_FOUND, "throttle_time_ms": 0, "topics": []},
            )
            return self._finish()
        top = ErrorCode.NONE
        subscribed: set[str] | None = set()
        if group.state is not GroupState.EMPTY:
            if group.protocol_type == "consumer":
                for m in group.members.values():
                    topics_of = subscribed_topics(m.metadata(group.protocol))
                    if topics_of is None:
                        subscribed = None
                        break
                    assert subscribed is not None
                    subscribed |= topics_of
            else:
                top = ErrorCode.NON_EMPTY_GROUP
        committed = self.store.offsets.get(group.group_id, {})
        topics = []
        for topic in body.get("topics", []):
            name = topic["name"]
            parts = []
            for p in topic.get("partitions", []):
                partition = p["partition_index"]
                if top is not ErrorCode.NONE:
                    code = top
                elif subscribed is None or name in subscribed:
                    code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    code = ErrorCode.NONE
                    if (name, partition) in committed:
                        self._emit(OffsetKey(group.group_id, name, partition), None)
                parts.append({"partition_index": partition, "error_code": code})
            topics.append({"name": name, "partitions": parts})
        if top is not ErrorCode.NONE:
            topics = []
        self._respond(ticket, {"error_code": top, "throttle_time_ms": 0, "topics": topics})
        return self._finish()

    def _expire_offsets(self, now_ms: int) -> None:
        """Expire offsets of Empty groups after the retention period; an Empty group with no
        offsets left is removed (Dead), with a tombstone for its metadata."""
        retention = self.config.offsets_retention_ms
        for group_id, group in list(self.groups.items()):
            if group.state is not GroupState.EMPTY or group.pending_members:
                continue
            base = group.state_timestamp if group.protocol_type is not None else -1
            committed = self.store.offsets.get(group_id, {})
            for (topic, partition), value in list(committed.items()):
                if now_ms - max(base, value.commit_timestamp) >= retention:
                    self._emit(OffsetKey(group_id, topic, partition), None)
            if group_id not in self.store.offsets:
                self._remove_group(group, now_ms)
        self._next_expiry = now_ms + self.config.offsets_retention_check_interval_ms
        self._push(self._next_expiry, _EXPIRE, "", "")

    def expire_offsets(self, now_ms: int) -> Result:
        """Run offset expiry now (``tick`` does it every retention check interval)."""
        self._begin()
        self._expire_offsets(now_ms)
        return self._finish()

    def _remove_group(self, group: Group, now_ms: int) -> None:
        group.transition(GroupState.DEAD, now_ms)
        del self.groups[group.group_id]
        if group.group_id in self.store.groups:
            self._emit(GroupKey(group.group_id), None)

    # ---------------------------------------------------------------- admin

    def delete_groups(self, body: Body, version: int, now_ms: int) -> Result:
        """DeleteGroups: only Empty groups; their offsets and metadata get tombstones."""
        ticket = self._begin()
        results = []
        for group_id in body.get("groups_names", []):
            group = self.groups.get(group_id)
            if group is None:
                code = ErrorCode.GROUP_ID_NOT_FOUND
            elif group.state is not GroupState.EMPTY:
                code = ErrorCode.NON_EMPTY_GROUP
            else:
                code = ErrorCode.NONE
                for topic, partition in list(self.store.offsets.get(group_id, {})):
                    self._emit(OffsetKey(group_id, topic, partition), None)
                self._remove_group(group, now_ms)
            results.append({"group_id": group_id, "error_code": code})
        self._respond(ticket, {"throttle_time_ms": 0, "results": results})
        return self._finish()

    def describe_groups(self, body: Body, version: int, now_ms: int) -> Result:
        """DescribeGroups: state, protocol and members; an unknown group is reported Dead."""
        ticket = self._begin()
        described = [self._describe(group_id) for group_id in body.get("groups", [])]
        self._respond(ticket, {"throttle_time_ms": 0, "groups": described})
        return self._finish()

    def _describe(self, group_id: str) -> Body:
        group = self.groups.get(group_id)
        if group is None:
            return {
                "error_code": ErrorCode.NONE,
                "group_id": group_id,
                "group_state": GroupState.DEAD.value,
                "protocol_type": "",
                "protocol_data": "",
                "members": [],
                "authorized_operations": _NO_AUTHORIZED_OPERATIONS,
            }
        stable = group.state is GroupState.STABLE
        return {
            "error_code": ErrorCode.NONE,
            "group_id": group_id,
            "group_state": group.state.value,
            "protocol_type": group.protocol_type or "",
            "protocol_data": (group.protocol or "") if stable else "",
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata(group.protocol) if stable else b"",
                    "member_assignment": m.assignment if stable else b"",
                }
                for m in group.members.values()
            ],
            "authorized_operations": _NO_AUTHORIZED_OPERATIONS,
        }

    def list_groups(self, body: Body, version: int, now_ms: int) -> Result:
        """ListGroups for this partition's groups, filtered by ``states_filter`` (v4+)."""
        ticket = self._begin()
        wanted = {s.lower() for s in body.get("states_filter") or []}
        groups = [
            {
                "group_id": g.group_id,
                "protocol_type": g.protocol_type or "",
                "group_state": g.state.value,
            }
            for g in self.groups.values()
            if not wanted or g.state.value.lower() in wanted
        ]
        self._respond(
            ticket, {"throttle_time_ms": 0, "error_code": ErrorCode.NONE, "groups": groups}
        )
        return self._finish()


def _join_error(error: ErrorCode, member_id: str) -> Body:
    return {
        "throttle_time_ms": 0,
        "error_code": error,
        "generation_id": -1,
        "protocol_type": None,
        "protocol_name": "",
        "leader": "",
        "skip_assignment": False,
        "member_id": member_id,
        "members": [],
    }


def _fenced_response(ticket: int, member: Member) -> Body:
    if ticket == member.join_ticket:
        return _join_error(ErrorCode.FENCED_INSTANCE_ID, member.member_id)
    return _sync_response(ErrorCode.FENCED_INSTANCE_ID)


def _sync_response(error: ErrorCode, group: Group | None = None, assignment: bytes = b"") -> Body:
    return {
        "throttle_time_ms": 0,
        "error_code": error,
        "protocol_type": group.protocol_type if group else None,
        "protocol_name": group.protocol if group else None,
        "assignment": assignment,
    }
