"""Replay: the state operations leave equals the state their records rebuild, before and
after compaction, and a restart brings every settled group back."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from broker.coordinator.compaction import compact
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.group import GroupState
from broker.coordinator.store import CoordinatorStore
from unit.coordinator.harness import Harness

GROUPS = ("g1", "g2")
CLIENTS = ("a", "b", "c", "s")  # "s" is a static member
PROTOCOLS = (
    (("range", b"r"), ("roundrobin", b"rr")),
    (("roundrobin", b"rr2"),),
    (("range", b"r3"),),
)

joins = st.tuples(st.just("join"), st.sampled_from(GROUPS), st.sampled_from(CLIENTS),
                  st.integers(0, len(PROTOCOLS) - 1), st.sampled_from((3, 5)))
ops = st.one_of(
    joins,
    joins,
    st.tuples(st.just("settle"), st.sampled_from(GROUPS)),
    st.tuples(st.just("settle"), st.sampled_from(GROUPS)),
    st.tuples(st.just("sync"), st.sampled_from(GROUPS), st.sampled_from(CLIENTS)),
    st.tuples(st.just("heartbeat"), st.sampled_from(GROUPS), st.sampled_from(CLIENTS)),
    st.tuples(st.just("leave"), st.sampled_from(GROUPS), st.sampled_from(CLIENTS)),
    st.tuples(st.just("commit"), st.sampled_from(GROUPS), st.sampled_from(CLIENTS + ("",)),
              st.integers(0, 2), st.integers(0, 10**6)),
    st.tuples(st.just("advance"), st.integers(0, 4000)),
    st.tuples(st.just("delete_group"), st.sampled_from(GROUPS)),
    st.tuples(st.just("delete_offsets"), st.sampled_from(GROUPS), st.integers(0, 2)),
)


class Driver:
    """Interprets random operations; remembers what each client was last told."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.member: dict[tuple[str, str], str] = {}
        self.generation: dict[tuple[str, str], int] = {}

    def learn(self, group: str, client: str, ticket: int) -> None:
        answer = self.h.answer(ticket)
        if answer is None:
            return
        if answer.get("member_id"):
            self.member[group, client] = answer["member_id"]
        if answer.get("generation_id", -1) >= 0:
            self.generation[group, client] = answer["generation_id"]

    def apply(self, op: tuple[Any, ...]) -> None:
        h = self.h
        kind = op[0]
        if kind == "join":
            _, group, client, proto, version = op
            ticket = h.join(
                self.member.get((group, client), ""),
                group_id=group,
                client_id=client,
                protocols=PROTOCOLS[proto],
                version=version,
                instance_id="inst-s" if client == "s" else None,
                session_ms=3000,
                rebalance_ms=2000,
            )
            self.learn(group, client, ticket)
            self.pending = (group, client, ticket)
        elif kind == "settle":
            self.settle(op[1])
        elif kind == "sync":
            _, group, client = op
            member = self.member.get((group, client), "")
            gen = self.generation.get((group, client), 0)
            assignments = None
            g = h.group(group)
            if g is not None and g.leader == member:
                assignments = {m: f"{m}@{gen}".encode() for m in g.members}
            h.sync(member, gen, assignments, group_id=group,
                   instance_id="inst-s" if client == "s" else None)
        elif kind == "heartbeat":
            _, group, client = op
            h.heartbeat(self.member.get((group, client), ""),
                        self.generation.get((group, client), 0), group_id=group)
        elif kind == "leave":
            _, group, client = op
            h.leave(self.member.get((group, client), ""), group_id=group)
        elif kind == "commit":
            _, group, client, partition, offset = op
            if client:
                h.commit({("t", partition): offset}, group_id=group,
                         member_id=self.member.get((group, client), ""),
                         generation=self.generation.get((group, client), 0))
            else:
                h.commit({("t", partition): offset}, group_id=group)
        elif kind == "advance":
            h.wait(op[1], step=500)
        elif kind == "delete_group":
            h.run(h.coordinator.delete_groups({"groups_names": [op[1]]}, 2, h.now))
        else:
            _, group, partition = op
            body = {"group_id": group,
                    "topics": [{"name": "t", "partitions": [{"partition_index": partition}]}]}
            h.run(h.coordinator.delete_offsets(body, 0, h.now))


    def settle(self, group: str) -> None:
        """Every client this group knows rejoins, then the leader and the others sync."""
        h = self.h
        clients = [c for (g, c) in self.member if g == group]
        tickets = []
        for client in clients:
            self.apply(("join", group, client, 0, 5))
            tickets.append(self.pending)
        h.wait(4 * 50)
        for g, client, ticket in tickets:
            self.learn(g, client, ticket)
        live = h.group(group)
        if live is None:
            return
        leader_first = sorted(clients, key=lambda c: self.member.get((group, c)) != live.leader)
        for client in leader_first:
            self.apply(("sync", group, client))


def replayed(records: list[tuple[bytes, bytes | None]]) -> Any:
    store = CoordinatorStore()
    for key, value in records:
        store.apply(key, value)
    return store.snapshot()


def check_settled_groups_match_store(coordinator: GroupCoordinator) -> None:
    for group_id, group in coordinator.groups.items():
        stored = coordinator.store.groups.get(group_id)
        if group.state is GroupState.STABLE:
            assert stored == group.to_stored(), group_id
        elif group.state is GroupState.EMPTY:
            if group.generation == 0:
                assert stored is None
            else:
                assert stored == group.to_stored(), group_id


def check_restart(h: Harness) -> None:
    live = h.coordinator
    restarted = GroupCoordinator.load(h.records, h.config, now_ms=h.now)
    assert restarted.store.snapshot() == live.store.snapshot()
    for group_id, group in live.groups.items():
        if group.state not in (GroupState.STABLE, GroupState.EMPTY):
            continue
        if group.state is GroupState.EMPTY and group.generation == 0 and (
            group_id not in live.store.offsets
        ):
            continue  # never stored: a group that exists only in memory
        back = restarted.groups[group_id]
        assert back.state is group.state
        assert back.generation == group.generation
        assert back.leader == group.leader and back.protocol == group.protocol
        assert {m: x.assignment for m, x in back.members.items()} == {
            m: x.assignment for m, x in group.members.items()
        }


@given(st.lists(ops, min_size=5, max_size=40))
def test_replay_and_compaction_rebuild_the_same_state(sequence: list[tuple[Any, ...]]) -> None:
    h = Harness()
    driver = Driver(h)
    held: list[tuple[str, str, int]] = []
    for op in sequence:
        driver.apply(op)
        if op[0] == "join":
            held.append(driver.pending)
        for group, client, ticket in held:
            driver.learn(group, client, ticket)
        check_settled_groups_match_store(h.coordinator)
    state = h.coordinator.store.snapshot()
    assert replayed(h.records) == state
    assert replayed(compact(h.records)) == state
    assert replayed(compact(h.records, drop_tombstones=True)) == state
    bulk = CoordinatorStore()
    bulk.load(h.records)
    assert bulk.snapshot() == state
    check_restart(h)


def test_restarted_group_is_stable_and_its_sessions_run() -> None:
    from unit.coordinator.harness import form_group

    h = Harness()
    g = form_group(h, ["a", "b"], session_ms=2000)
    h.commit({("t", 0): 5}, generation=g.generation, member_id=g.ids["a"])
    back = Harness()
    back.now = h.now
    back.coordinator = GroupCoordinator.load(h.records, h.config, now_ms=h.now)
    assert back.group().state is GroupState.STABLE
    assert back.fetch() == {("t", 0): 5}
    assert back.heartbeat(g.ids["a"], g.generation) == 0
    assert back.answer(back.sync(g.ids["b"], g.generation))["assignment"] == b"b"
    back.advance(1500)
    assert back.heartbeat(g.ids["a"], g.generation) == 0
    back.advance(1500)  # b's session ran out after the restart
    assert g.ids["b"] not in back.group().members
    assert back.group().state is GroupState.PREPARING_REBALANCE
