"""Fetch, ListOffsets and a classic group coordinator for the SDK's ``FakeBroker``.

Enough of a broker to drive whole consumers in unit tests: fetch reads the fake log (waiting
up to max_wait_ms for data), ListOffsets answers earliest / latest / by timestamp, and the
coordinator follows Kafka's classic protocol: JoinGroup answers are held until every known
member rejoined (or the rebalance timeout passed), followers' SyncGroup waits for the
leader's assignments, heartbeats during a rebalance get REBALANCE_IN_PROGRESS, stale
generations ILLEGAL_GENERATION, and offsets are stored per group.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import trio

from client.protocol import ApiKey, ErrorCode, RequestHeader
from client.records import decode_batches
from unit.sdk.fake_broker import FakeBroker, FakeState


@dataclass
class Member:
    member_id: str
    protocols: list[tuple[str, bytes]]
    instance_id: str | None
    joined: bool = False


@dataclass
class Group:
    """One group's coordinator state."""

    state: str = "Empty"
    generation: int = 0
    leader: str | None = None
    protocol: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    assignments: dict[str, bytes] = field(default_factory=dict)
    join_done: trio.Event = field(default_factory=trio.Event)
    sync_done: trio.Event = field(default_factory=trio.Event)
    offsets: dict[tuple[str, int], tuple[int, int, str]] = field(default_factory=dict)


class FakeGroupBroker:
    """Installs the handlers on ``broker`` (whose FakeState holds the logs)."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.state: FakeState = broker.state
        self.groups: dict[str, Group] = {}
        self._ids = itertools.count(1)
        self.data_arrived = trio.Event()
        self.nursery: trio.Nursery | None = None
        for api, handler in {
            ApiKey.FETCH: self.fetch,
            ApiKey.LIST_OFFSETS: self.list_offsets,
            ApiKey.JOIN_GROUP: self.join_group,
            ApiKey.SYNC_GROUP: self.sync_group,
            ApiKey.HEARTBEAT: self.heartbeat,
            ApiKey.LEAVE_GROUP: self.leave_group,
            ApiKey.OFFSET_COMMIT: self.offset_commit,
            ApiKey.OFFSET_FETCH: self.offset_fetch,
            ApiKey.OFFSET_FOR_LEADER_EPOCH: self.offset_for_leader_epoch,
        }.items():
            broker.hooks[api] = handler

    def append(self, topic: str, partition: int, batch: bytes) -> None:
        """Produce ``batch`` as the leader would."""
        self.broker.produce_partition(topic, partition, batch)
        self.data_arrived.set()
        self.data_arrived = trio.Event()

    # ------------------------------------------------------------------ data

    def _read(self, key: tuple[str, int], offset: int, max_bytes: int) -> bytes:
        out = bytearray()
        for raw in self.state.logs[key]:
            last = decode_batches(raw)[-1].last_offset
            if last < offset:
                continue
            if out and len(out) + len(raw) > max_bytes:
                break
            out += raw
        return bytes(out)

    async def fetch(self, header: RequestHeader, body: dict) -> dict:
        deadline = trio.current_time() + body["max_wait_ms"] / 1000
        while True:
            responses, size = self._fetch_now(body)
            if size >= body["min_bytes"] or trio.current_time() >= deadline:
                return {"error_code": 0, "session_id": 0, "responses": responses}
            with trio.move_on_at(deadline):
                await self.data_arrived.wait()

    def _fetch_now(self, body: dict) -> tuple[list[dict], int]:
        responses = []
        size = 0
        for topic in body["topics"]:
            parts = []
            for p in topic["partitions"]:
                key = (topic["topic"], p["partition"])
                end = self.state.next_offset[key]
                part = {"partition_index": p["partition"], "high_watermark": end,
                        "last_stable_offset": end, "log_start_offset": 0,
                        "aborted_transactions": None, "preferred_read_replica": -1}
                if topic["topic"] not in self.state.topics:
                    part.update(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, records=None)
                elif not 0 <= p["fetch_offset"] <= end:
                    part.update(error_code=ErrorCode.OFFSET_OUT_OF_RANGE, records=None)
                else:
                    data = self._read(key, p["fetch_offset"], p["partition_max_bytes"])
                    size += len(data)
                    part.update(error_code=0, records=data)
                parts.append(part)
            responses.append({"topic": topic["topic"], "partitions": parts})
        return responses, size

    def list_offsets(self, header: RequestHeader, body: dict) -> dict:
        topics = []
        for topic in body["topics"]:
            parts = []
            for p in topic["partitions"]:
                key = (topic["name"], p["partition_index"])
                ts = p["timestamp"]
                offset, found_ts = -1, -1
                if ts == -2:
                    offset = 0
                elif ts == -1:
                    offset = self.state.next_offset[key]
                else:
                    for b in self.state.batches(*key):
                        hit = next((r for r in b.records if r.timestamp >= ts), None)
                        if hit is not None:
                            offset, found_ts = hit.offset, hit.timestamp
                            break
                parts.append({"partition_index": p["partition_index"], "error_code": 0,
                              "timestamp": found_ts, "offset": offset, "leader_epoch": 0})
            topics.append({"name": topic["name"], "partitions": parts})
        return {"topics": topics}

    def offset_for_leader_epoch(self, header: RequestHeader, body: dict) -> dict:
        return {"topics": [
            {"topic": t["topic"], "partitions": [
                {"error_code": 0, "partition": p["partition"], "leader_epoch": 0,
                 "end_offset": self.state.next_offset[(t["topic"], p["partition"])]}
                for p in t["partitions"]
            ]}
            for t in body["topics"]
        ]}

    # ------------------------------------------------------------------ groups

    def group(self, group_id: str) -> Group:
        return self.groups.setdefault(group_id, Group())

    def _prepare(self, group: Group, timeout: float) -> None:
        if group.state == "PreparingRebalance":
            return
        group.state = "PreparingRebalance"
        group.join_done = trio.Event()
        group.sync_done.set()  # release followers still waiting in SyncGroup
        group.sync_done = trio.Event()
        for m in group.members.values():
            m.joined = False
        assert self.nursery is not None
        self.nursery.start_soon(self._complete_join_after, group, timeout)

    async def _complete_join_after(self, group: Group, timeout: float) -> None:
        event = group.join_done
        with trio.move_on_after(timeout):
            await event.wait()
            return
        if group.state == "PreparingRebalance":
            for member_id in [m for m, v in group.members.items() if not v.joined]:
                del group.members[member_id]
            self._complete_join(group)

    def _maybe_complete(self, group: Group) -> None:
        if group.state == "PreparingRebalance" and all(m.joined for m in group.members.values()):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        group.generation += 1
        if not group.members:
            group.state = "Empty"
        else:
            group.state = "CompletingRebalance"
            if group.leader not in group.members:
                group.leader = next(iter(group.members))
            names = [n for n, _ in group.members[group.leader].protocols]
            common = [n for n in names
                      if all(n in dict(m.protocols) for m in group.members.values())]
            group.protocol = common[0] if common else None
        group.assignments = {}
        group.join_done.set()

    async def join_group(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        member_id = body["member_id"]
        if not member_id and header.api_version >= 4:
            new_id = f"{body.get('group_instance_id') or 'member'}-{next(self._ids)}"
            group.pending.add(new_id)
            return {"error_code": ErrorCode.MEMBER_ID_REQUIRED, "member_id": new_id,
                    "generation_id": -1, "protocol_name": "", "leader": "", "members": []}
        if not member_id:
            member_id = f"member-{next(self._ids)}"
        elif member_id not in group.members and member_id not in group.pending:
            return {"error_code": ErrorCode.UNKNOWN_MEMBER_ID, "member_id": member_id,
                    "generation_id": -1, "protocol_name": "", "leader": "", "members": []}
        group.pending.discard(member_id)
        protocols = [(p["name"], bytes(p["metadata"])) for p in body["protocols"]]
        member = group.members.get(member_id)
        if member is None:
            member = group.members[member_id] = Member(member_id, protocols,
                                                       body.get("group_instance_id"))
        member.protocols = protocols
        self._prepare(group, body.get("rebalance_timeout_ms", body["session_timeout_ms"]) / 1000)
        member.joined = True
        event = group.join_done
        self._maybe_complete(group)
        await event.wait()
        if member_id not in group.members:
            return {"error_code": ErrorCode.UNKNOWN_MEMBER_ID, "member_id": member_id,
                    "generation_id": -1, "protocol_name": "", "leader": "", "members": []}
        if group.protocol is None:
            return {"error_code": ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "member_id": member_id,
                    "generation_id": -1, "protocol_name": "", "leader": "", "members": []}
        members = []
        if member_id == group.leader:
            members = [
                {"member_id": m.member_id, "group_instance_id": m.instance_id,
                 "metadata": dict(m.protocols)[group.protocol]}
                for m in group.members.values()
            ]
        return {"error_code": 0, "generation_id": group.generation,
                "protocol_name": group.protocol, "leader": group.leader,
                "member_id": member_id, "members": members}

    async def sync_group(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        member_id = body["member_id"]
        if member_id not in group.members:
            return {"error_code": ErrorCode.UNKNOWN_MEMBER_ID, "assignment": b""}
        if body["generation_id"] != group.generation:
            return {"error_code": ErrorCode.ILLEGAL_GENERATION, "assignment": b""}
        if group.state == "PreparingRebalance":
            return {"error_code": ErrorCode.REBALANCE_IN_PROGRESS, "assignment": b""}
        if member_id == group.leader and group.state == "CompletingRebalance":
            group.assignments = {a["member_id"]: bytes(a["assignment"])
                                 for a in body["assignments"]}
            group.state = "Stable"
            group.sync_done.set()
        event = group.sync_done
        await event.wait()
        if group.state != "Stable" or body["generation_id"] != group.generation:
            return {"error_code": ErrorCode.REBALANCE_IN_PROGRESS, "assignment": b""}
        return {"error_code": 0, "protocol_type": "consumer", "protocol_name": group.protocol,
                "assignment": group.assignments.get(member_id, b"")}

    def heartbeat(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        if body["member_id"] not in group.members:
            return {"error_code": ErrorCode.UNKNOWN_MEMBER_ID}
        if body["generation_id"] != group.generation:
            return {"error_code": ErrorCode.ILLEGAL_GENERATION}
        if group.state != "Stable":
            return {"error_code": ErrorCode.REBALANCE_IN_PROGRESS}
        return {"error_code": 0}

    def leave_group(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        ids = [m["member_id"] for m in body.get("members", [])] or [body.get("member_id")]
        for member_id in ids:
            group.members.pop(member_id, None)
        if group.members:
            self._prepare(group, 30)
            self._maybe_complete(group)
        else:
            group.state = "Empty"
        return {"error_code": 0, "members": []}

    def offset_commit(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        generation = body.get("generation_id_or_member_epoch", -1)
        code = 0
        if generation >= 0 or group.members:
            if body["member_id"] not in group.members:
                code = ErrorCode.UNKNOWN_MEMBER_ID
            elif group.state == "CompletingRebalance":
                code = ErrorCode.REBALANCE_IN_PROGRESS
            elif generation != group.generation:
                code = ErrorCode.ILLEGAL_GENERATION
        topics = []
        for t in body["topics"]:
            parts = []
            for p in t["partitions"]:
                if not code:
                    group.offsets[(t["name"], p["partition_index"])] = (
                        p["committed_offset"], p.get("committed_leader_epoch", -1),
                        p.get("committed_metadata") or "",
                    )
                parts.append({"partition_index": p["partition_index"], "error_code": code})
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics}

    def offset_fetch(self, header: RequestHeader, body: dict) -> dict:
        group = self.group(body["group_id"])
        topics = []
        for t in body["topics"]:
            parts = []
            for p in t["partition_indexes"]:
                offset, epoch, meta = group.offsets.get((t["name"], p), (-1, -1, ""))
                parts.append({"partition_index": p, "committed_offset": offset,
                              "committed_leader_epoch": epoch, "metadata": meta,
                              "error_code": 0})
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics, "error_code": 0}
