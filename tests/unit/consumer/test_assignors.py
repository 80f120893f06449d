"""Assignors: range and roundrobin against kafka-python's, cooperative-sticky's balance,
stickiness and two-phase hand-over, simulated over whole rebalances."""

from __future__ import annotations

import struct
from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from client.consumer.assignors import (
    CooperativeStickyAssignor,
    GroupMember,
    RangeAssignor,
    RebalanceProtocol,
    RoundRobinAssignor,
    rebalance_protocol,
    resolve_assignors,
)
from client.consumer.assignors.sticky import member_generation, sticky_assignment
from client.consumer.formats import Subscription
from client.consumer.structs import TopicPartition as TP


def member(member_id: str, topics: list[str], owned: list[TP] = (), generation: int = -1,
           instance: str | None = None) -> GroupMember:
    subscription = Subscription(list(topics), b"", list(owned), generation)
    return GroupMember(member_id, subscription, instance)


def flat(result: dict) -> dict[str, list[TP]]:
    return {m: list(a.partitions) for m, a in result.items()}


@st.composite
def groups(draw: st.DrawFn) -> tuple[dict[str, int], list[GroupMember]]:
    topics = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4, unique=True))
    counts = {t: draw(st.integers(0, 7)) for t in topics}
    ids = draw(st.lists(st.text("xyz0123", min_size=1, max_size=4), min_size=1, max_size=6,
                        unique=True))
    members = [
        member(f"m-{i}", draw(st.lists(st.sampled_from(topics), min_size=1, unique=True)))
        for i in ids
    ]
    return counts, members


def kafka_python_assign(assignor: type, counts: dict[str, int], members: list[GroupMember]) -> dict:
    cluster = SimpleNamespace(
        partitions_for_topic=lambda t: set(range(counts[t])) if counts.get(t) else None
    )
    theirs = assignor.assign(cluster, [
        SimpleNamespace(member_id=m.member_id, group_instance_id=m.group_instance_id,
                        metadata=SimpleNamespace(topics=m.subscription.topics))
        for m in members
    ])
    return {
        m: sorted(TP(t, p) for t, parts in a.assigned_partitions for p in parts)
        for m, a in theirs.items()
    }


@given(groups())
def test_range_matches_kafka_python(group: tuple[dict[str, int], list[GroupMember]]) -> None:
    counts, members = group
    ours = {m: sorted(p) for m, p in flat(RangeAssignor().assign(counts, members)).items()}
    assert ours == kafka_python_assign(RangePartitionAssignor, counts, members)


@given(groups())
def test_roundrobin_matches_kafka_python(group: tuple[dict[str, int], list[GroupMember]]) -> None:
    # kafka-python 3.0 cannot skip a member that lacks a topic (it looks the member up by the
    # wrong key), so it is an oracle for identical subscriptions only; the skipping rule is
    # checked against Kafka's documented example below.
    counts, members = group
    for m in members:
        m.subscription.topics = sorted(counts)
    ours = {m: sorted(p) for m, p in flat(RoundRobinAssignor().assign(counts, members)).items()}
    assert ours == kafka_python_assign(RoundRobinPartitionAssignor, counts, members)


def test_range_example_from_kafka_documentation() -> None:
    result = flat(RangeAssignor().assign(
        {"t0": 3, "t1": 3}, [member("C1", ["t0", "t1"]), member("C0", ["t0", "t1"])]
    ))
    assert result == {
        "C0": [TP("t0", 0), TP("t0", 1), TP("t1", 0), TP("t1", 1)],
        "C1": [TP("t0", 2), TP("t1", 2)],
    }


def test_roundrobin_examples_from_kafka_documentation() -> None:
    result = flat(RoundRobinAssignor().assign(
        {"t0": 3, "t1": 3}, [member("C0", ["t0", "t1"]), member("C1", ["t0", "t1"])]
    ))
    assert result == {
        "C0": [TP("t0", 0), TP("t0", 2), TP("t1", 1)],
        "C1": [TP("t0", 1), TP("t1", 0), TP("t1", 2)],
    }
    uneven = flat(RoundRobinAssignor().assign(
        {"t0": 1, "t1": 2, "t2": 3},
        [member("C0", ["t0"]), member("C1", ["t0", "t1"]), member("C2", ["t0", "t1", "t2"])],
    ))
    assert uneven == {
        "C0": [TP("t0", 0)],
        "C1": [TP("t1", 0)],
        "C2": [TP("t1", 1), TP("t2", 0), TP("t2", 1), TP("t2", 2)],
    }


def test_static_members_come_first_in_instance_id_order() -> None:
    members = [
        member("a-dynamic", ["t"]),
        member("z-static", ["t"], instance="i-1"),
        member("b-static", ["t"], instance="i-2"),
    ]
    result = flat(RangeAssignor().assign({"t": 3}, members))
    assert result == {"z-static": [TP("t", 0)], "b-static": [TP("t", 1)], "a-dynamic": [TP("t", 2)]}


def test_topics_without_metadata_are_skipped() -> None:
    for assignor in (RangeAssignor(), RoundRobinAssignor(), CooperativeStickyAssignor()):
        result = flat(assignor.assign({"known": 2}, [member("m", ["known", "missing"])]))
        assert sorted(result["m"]) == [TP("known", 0), TP("known", 1)]


# ----------------------------------------------------------------------------- sticky

def loads(result: dict[str, list[TP]]) -> list[int]:
    return sorted(len(p) for p in result.values())


def assert_complete_once(result: dict[str, list[TP]], counts: dict[str, int]) -> None:
    every = [tp for parts in result.values() for tp in parts]
    assert Counter(every) == Counter(TP(t, p) for t, n in counts.items() for p in range(n))


@given(st.integers(1, 6), st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), min_size=1))
def test_sticky_fresh_assignment_is_complete_and_balanced(members: int, counts: dict) -> None:
    group = [member(f"m{i}", sorted(counts)) for i in range(members)]
    result = sticky_assignment(counts, group)
    assert_complete_once(result, counts)
    assert max(loads(result)) - min(loads(result)) <= 1


def test_sticky_keeps_owned_partitions_and_moves_the_minimum() -> None:
    counts = {"t": 12}
    before = sticky_assignment(counts, [member(m, ["t"]) for m in ("a", "b", "c")])
    group = [member(m, ["t"], before[m], generation=1) for m in ("a", "b", "c")]
    group.append(member("d", ["t"]))
    after = sticky_assignment(counts, group)
    assert loads(after) == [3, 3, 3, 3]
    moved = sum(1 for m in "abc" for tp in before[m] if tp not in after[m])
    assert moved == 3
    for m in "abc":
        assert set(after[m]) <= set(before[m])


def test_cooperative_first_phase_withholds_partitions_still_owned_elsewhere() -> None:
    counts = {"t": 4}
    owned = {"a": [TP("t", 0), TP("t", 1)], "b": [TP("t", 2), TP("t", 3)]}
    group = [
        member("a", ["t"], owned["a"], 3), member("b", ["t"], owned["b"], 3), member("c", ["t"])
    ]
    first = flat(CooperativeStickyAssignor().assign(counts, group))
    target = sticky_assignment(counts, group)
    moving = [tp for tp in target["c"]]
    assert moving and first["c"] == []  # every partition c should get is still owned
    for m in "ab":
        assert set(first[m]) == set(owned[m]) - set(moving)
    # second phase: the previous owners revoked, nobody claims the moving partitions
    group2 = [member(m, ["t"], first[m], 4) for m in "ab"] + [member("c", ["t"], [], 4)]
    second = flat(CooperativeStickyAssignor().assign(counts, group2))
    assert set(second["c"]) == set(moving)
    assert_complete_once(second, counts)


def test_highest_generation_claim_wins_and_ties_are_invalidated() -> None:
    counts = {"t": 2}
    stale = member("old", ["t"], [TP("t", 0), TP("t", 1)], generation=2)
    fresh = member("new", ["t"], [TP("t", 0)], generation=5)
    result = sticky_assignment(counts, [stale, fresh])
    assert TP("t", 0) in result["new"]
    tie = sticky_assignment(counts, [
        member("x", ["t"], [TP("t", 0)], generation=5),
        member("y", ["t"], [TP("t", 0)], generation=5),
    ])
    assert_complete_once(tie, counts)


def test_generation_is_read_from_user_data_when_the_field_is_absent() -> None:
    java = Subscription(["t"], struct.pack(">i", 11), [], -1, None, 1)
    assert member_generation(java) == 11
    sticky = Subscription(
        ["t"],
        struct.pack(">ih", 1, 1) + b"t" + struct.pack(">iii", 2, 0, 1) + struct.pack(">i", 8),
        [], -1, None, 1,
    )
    assert member_generation(sticky) == 8
    assert member_generation(Subscription(["t"], b"\x00", [], -1)) == -1
    assert member_generation(Subscription(["t"], struct.pack(">i", 11), [], 3)) == 3


def test_user_data_carries_the_generation() -> None:
    assert CooperativeStickyAssignor().user_data(42) == struct.pack(">i", 42)


@given(st.data())
def test_sticky_with_different_subscriptions_respects_them(data: st.DataObject) -> None:
    counts = {"a": data.draw(st.integers(1, 6)), "b": data.draw(st.integers(1, 6)), "c": 3}
    group = [
        member(f"m{i}", data.draw(st.lists(st.sampled_from("abc"), min_size=1, unique=True)))
        for i in range(data.draw(st.integers(1, 5)))
    ]
    result = sticky_assignment(counts, group)
    subscribed = {m.member_id: set(m.subscription.topics) for m in group}
    wanted = {t for topics in subscribed.values() for t in topics}
    assert_complete_once(result, {t: n for t, n in counts.items() if t in wanted})
    for member_id, parts in result.items():
        assert {tp.topic for tp in parts} <= subscribed[member_id]


def test_general_case_balances_when_subscriptions_allow() -> None:
    counts = {"a": 4, "b": 4}
    group = [member("x", ["a"]), member("y", ["a", "b"]), member("z", ["b"])]
    result = sticky_assignment(counts, group)
    assert loads(result) == [2, 3, 3]


class Simulation:
    """Members rebalancing with the cooperative protocol, as the consumer does."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.owned: dict[str, list[TP]] = {}
        self.generation = 0

    def rebalance(self) -> int:
        """Rounds until nobody revokes; checks no partition is ever owned twice."""
        for rounds in range(1, 5):
            self.generation += 1
            group = [member(m, sorted(self.counts), parts, self.generation - 1)
                     for m, parts in sorted(self.owned.items())]
            result = flat(CooperativeStickyAssignor().assign(self.counts, group))
            revoked = any(set(self.owned[m]) - set(result[m]) for m in self.owned)
            self.owned = {m: result[m] for m in self.owned}
            every = [tp for parts in self.owned.values() for tp in parts]
            assert len(every) == len(set(every)), "a partition is owned twice"
            if not revoked:
                return rounds
        raise AssertionError("the group did not settle")


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=1, max_size=8))
def test_cooperative_rebalances_settle_balanced_without_double_ownership(steps: list) -> None:
    sim = Simulation({"a": 5, "b": 4})
    sim.owned = {"m0": []}
    sim.rebalance()
    for join, which in steps:
        if join:
            sim.owned[f"n{len(sim.owned)}-{which}"] = []
        elif len(sim.owned) > 1:
            sim.owned.pop(sorted(sim.owned)[which % len(sim.owned)])
        assert sim.rebalance() <= 2
        assert_complete_once(sim.owned, sim.counts)
        assert max(loads(sim.owned)) - min(loads(sim.owned)) <= 1


def test_resolve_assignors_by_name_and_protocol() -> None:
    assert [a.name for a in resolve_assignors(("range", "roundrobin"))] == ["range", "roundrobin"]
    assert [a.name for a in resolve_assignors("range,roundrobin")] == ["range", "roundrobin"]
    assert rebalance_protocol(resolve_assignors(("range", "roundrobin"))) == RebalanceProtocol.EAGER
    cooperative = rebalance_protocol(resolve_assignors("cooperative-sticky"))
    assert cooperative == RebalanceProtocol.COOPERATIVE
    assert rebalance_protocol(resolve_assignors(["cooperative-sticky", "range"])) == (
        RebalanceProtocol.EAGER
    )
    with pytest.raises(ValueError, match="sticky-ish"):
        resolve_assignors("sticky-ish")
    with pytest.raises(ValueError, match="repeats"):
        resolve_assignors(["range", RangeAssignor])
