"""A driver for the pure coordinator: a hand-moved clock, every record and response kept."""

from __future__ import annotations

import itertools
from typing import Any

from client.protocol import SUPPORTED_VERSIONS, ApiKey, decode_request, encode_request

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.coordinator import GroupCoordinator, Result

Body = dict[str, Any]

DELAY_MS = 50
TEST_CONFIG = CoordinatorConfig(
    initial_rebalance_delay_ms=DELAY_MS,
    min_session_timeout_ms=10,
    max_session_timeout_ms=600_000,
)
START_MS = 1_700_000_000_000


OPERATIONS = {
    "join_group": ApiKey.JOIN_GROUP,
    "sync_group": ApiKey.SYNC_GROUP,
    "heartbeat": ApiKey.HEARTBEAT,
    "leave_group": ApiKey.LEAVE_GROUP,
    "commit_offsets": ApiKey.OFFSET_COMMIT,
    "fetch_offsets": ApiKey.OFFSET_FETCH,
    "delete_offsets": ApiKey.OFFSET_DELETE,
    "describe_groups": ApiKey.DESCRIBE_GROUPS,
    "list_groups": ApiKey.LIST_GROUPS,
    "delete_groups": ApiKey.DELETE_GROUPS,
}


def as_received(api_key: ApiKey, version: int, body: Body) -> Body:
    """``body`` as the broker would get it: encoded and decoded by the real codec.

    A key the codec does not know for that API is dropped, as on the wire, so a test that
    names a field differently from the codec fails instead of passing by accident. Versions
    the codec does not speak (LeaveGroup v3 batches, OffsetCommit v0) pass unchanged.
    """
    low, high = SUPPORTED_VERSIONS[api_key]
    if not low <= version <= high:
        return body
    frame = encode_request(api_key, version, 1, "test", body)
    return decode_request(memoryview(frame)[4:])[1]


class WireCoordinator:
    """The coordinator with every request body passed through the codec first."""

    def __init__(self, coordinator: GroupCoordinator) -> None:
        self._coordinator = coordinator

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._coordinator, name)
        api_key = OPERATIONS.get(name)
        if api_key is None:
            return attribute

        def call(body: Body, version: int, *args: Any, **kwargs: Any) -> Result:
            return attribute(as_received(api_key, version, body), version, *args, **kwargs)

        return call


def counting_member_ids() -> Any:
    """Member ids ``<client or instance>-<n>``, predictable in tests."""
    counter = itertools.count(1)
    return lambda client_id, instance_id: f"{instance_id or client_id}-{next(counter)}"


class Harness:
    """Runs operations at ``now`` and collects their records and responses."""

    def __init__(self, config: CoordinatorConfig = TEST_CONFIG) -> None:
        self.now = START_MS
        self.config = config
        self.coordinator = WireCoordinator(
            GroupCoordinator(config, now_ms=self.now, member_id_factory=counting_member_ids())
        )
        self.records: list[tuple[bytes, bytes | None]] = []
        self.responses: dict[int, Body] = {}

    def run(self, result: Result) -> int:
        self.records.extend(result.records)
        for ticket in result.responses:
            assert ticket not in self.responses, f"ticket {ticket} answered twice"
        self.responses.update(result.responses)
        return result.ticket

    def answer(self, ticket: int) -> Body | None:
        return self.responses.get(ticket)

    def advance(self, ms: int) -> None:
        self.now += ms
        self.run(self.coordinator.tick(self.now))

    def wait(self, ms: int, step: int = DELAY_MS) -> None:
        """Let ``ms`` pass in steps, as a running broker would tick."""
        while ms > 0:
            self.advance(min(step, ms))
            ms -= step

    def group(self, group_id: str = "g") -> Any:
        return self.coordinator.groups.get(group_id)

    def join(
        self,
        member_id: str = "",
        *,
        group_id: str = "g",
        protocols: tuple[tuple[str, bytes], ...] = (("range", b"meta"),),
        version: int = 5,
        instance_id: str | None = None,
        session_ms: int = 10_000,
        rebalance_ms: int = 5_000,
        protocol_type: str = "consumer",
        client_id: str = "c",
    ) -> int:
        body = {
            "group_id": group_id,
            "session_timeout_ms": session_ms,
            "rebalance_timeout_ms": rebalance_ms,
            "member_id": member_id,
            "group_instance_id": instance_id,
            "protocol_type": protocol_type,
            "protocols": [{"name": n, "metadata": m} for n, m in protocols],
        }
        return self.run(
            self.coordinator.join_group(
                body, version, self.now, client_id=client_id, client_host="/127.0.0.1"
            )
        )

    def join_new(self, **kwargs: Any) -> str:
        """Join with no member id (v5: MEMBER_ID_REQUIRED, then rejoin); returns the id and
        leaves the rejoin held or answered."""
        first = self.answer(self.join(**kwargs))
        assert first is not None and first["error_code"] == 79
        member_id = first["member_id"]
        self.last_ticket = self.join(member_id, **kwargs)
        return member_id

    def sync(
        self,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        *,
        group_id: str = "g",
        instance_id: str | None = None,
    ) -> int:
        body = {
            "group_id": group_id,
            "generation_id": generation,
            "member_id": member_id,
            "group_instance_id": instance_id,
            "assignments": [
                {"member_id": m, "assignment": a} for m, a in (assignments or {}).items()
            ],
        }
        return self.run(self.coordinator.sync_group(body, 3, self.now))

    def heartbeat(
        self, member_id: str, generation: int, *, group_id: str = "g",
        instance_id: str | None = None,
    ) -> int:
        body = {
            "group_id": group_id,
            "generation_id": generation,
            "member_id": member_id,
            "group_instance_id": instance_id,
        }
        ticket = self.run(self.coordinator.heartbeat(body, 3, self.now))
        answer = self.answer(ticket)
        assert answer is not None
        return answer["error_code"]

    def leave(self, member_id: str, *, group_id: str = "g") -> int:
        ticket = self.run(
            self.coordinator.leave_group(
                {"group_id": group_id, "member_id": member_id}, 1, self.now
            )
        )
        answer = self.answer(ticket)
        assert answer is not None
        return answer["error_code"]

    def commit(
        self,
        offsets: dict[tuple[str, int], int],
        *,
        group_id: str = "g",
        generation: int = -1,
        member_id: str = "",
        metadata: str | None = "",
        version: int = 7,
    ) -> dict[tuple[str, int], int]:
        by_topic: dict[str, list[Body]] = {}
        for (topic, partition), offset in offsets.items():
            by_topic.setdefault(topic, []).append(
                {
                    "partition_index": partition,
                    "committed_offset": offset,
                    "committed_leader_epoch": 3,
                    "committed_metadata": metadata,
                }
            )
        body = {
            "group_id": group_id,
            "generation_id_or_member_epoch": generation,
            "member_id": member_id,
            "group_instance_id": None,
            "topics": [{"name": t, "partitions": p} for t, p in by_topic.items()],
        }
        ticket = self.run(self.coordinator.commit_offsets(body, version, self.now))
        answer = self.answer(ticket)
        assert answer is not None
        return {
            (t["name"], p["partition_index"]): p["error_code"]
            for t in answer["topics"]
            for p in t["partitions"]
        }

    def fetch(
        self, partitions: dict[str, list[int]] | None = None, *, group_id: str = "g"
    ) -> dict[tuple[str, int], int]:
        topics = (
            None
            if partitions is None
            else [{"name": t, "partition_indexes": p} for t, p in partitions.items()]
        )
        ticket = self.run(
            self.coordinator.fetch_offsets({"group_id": group_id, "topics": topics}, 7, self.now)
        )
        answer = self.answer(ticket)
        assert answer is not None
        return {
            (t["name"], p["partition_index"]): p["committed_offset"]
            for t in answer["topics"]
            for p in t["partitions"]
        }

    def describe(self, group_id: str = "g") -> Body:
        ticket = self.run(self.coordinator.describe_groups({"groups": [group_id]}, 5, self.now))
        answer = self.answer(ticket)
        assert answer is not None
        return answer["groups"][0]


class Formed:
    """A Stable group made by ``form_group``: member ids by client name, generation, leader."""

    def __init__(self, ids: dict[str, str], generation: int, leader: str) -> None:
        self.ids = ids
        self.generation = generation
        self.leader = leader


def form_group(h: Harness, names: list[str], **join_kwargs: Any) -> Formed:
    """Bring an empty group to Stable with these members (all join within the initial
    delay); the leader assigns each member its own name as bytes."""
    ids: dict[str, str] = {}
    tickets: dict[str, int] = {}
    for name in names:
        ids[name] = h.join_new(client_id=name, **join_kwargs)
        tickets[name] = h.last_ticket
    # The initial delay extends while members keep arriving: wait it out.
    for _ in range(len(names) + 1):
        h.advance(h.config.initial_rebalance_delay_ms)
    answers = {name: h.answer(t) for name, t in tickets.items()}
    assert all(a is not None and a["error_code"] == 0 for a in answers.values()), answers
    generation = next(iter(answers.values()))["generation_id"]  # type: ignore[index]
    leader = next(iter(answers.values()))["leader"]  # type: ignore[index]
    by_id = {v: k for k, v in ids.items()}
    h.sync(leader, generation, {mid: by_id[mid].encode() for mid in ids.values()})
    for mid in ids.values():
        if mid != leader:
            h.sync(mid, generation)
    assert h.group().state.value == "Stable"
    return Formed(ids, generation, leader)
