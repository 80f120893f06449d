"""The classic group protocol on a hand-moved clock: states, held joins and syncs, timeouts."""

from __future__ import annotations

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.errors import ErrorCode
from broker.coordinator.formats import GroupKey, decode_group_value, decode_key
from broker.coordinator.group import GroupState
from unit.coordinator.harness import DELAY_MS, Harness, form_group


def stored_groups(h: Harness) -> list:
    """Group metadata values among the emitted records, in order."""
    return [
        decode_group_value(v) if v is not None else None
        for k, v in h.records
        if isinstance(decode_key(k), GroupKey)
    ]


def test_first_join_walks_every_state_to_stable() -> None:
    h = Harness()
    first = h.answer(h.join())
    assert first is not None and first["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
    member = first["member_id"]
    assert member and h.group().state is GroupState.EMPTY
    held = h.join(member)
    assert h.answer(held) is None
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.advance(DELAY_MS - 1)
    assert h.answer(held) is None
    h.advance(1)
    joined = h.answer(held)
    assert joined is not None and joined["error_code"] == 0
    assert joined["generation_id"] == 1 and joined["leader"] == member
    assert joined["protocol_name"] == "range"
    assert joined["members"] == [
        {"member_id": member, "group_instance_id": None, "metadata": b"meta"}
    ]
    assert h.group().state is GroupState.COMPLETING_REBALANCE
    assert stored_groups(h) == []
    synced = h.answer(h.sync(member, 1, {member: b"\x00assignment\xff"}))
    assert synced is not None and synced["assignment"] == b"\x00assignment\xff"
    assert h.group().state is GroupState.STABLE
    (stored,) = stored_groups(h)
    assert stored.generation == 1 and stored.leader == member and stored.protocol == "range"
    assert [(m.member_id, m.subscription, m.assignment) for m in stored.members] == [
        (member, b"meta", b"\x00assignment\xff")
    ]
    assert h.describe()["group_state"] == "Stable"


def test_initial_delay_extends_while_members_arrive_but_not_past_rebalance_timeout() -> None:
    h = Harness()
    a = h.join_new(client_id="a", rebalance_ms=4 * DELAY_MS)
    ta = h.last_ticket
    h.advance(DELAY_MS // 2)
    h.join_new(client_id="b", rebalance_ms=4 * DELAY_MS)
    h.advance(DELAY_MS // 2)
    assert h.answer(ta) is None, "a member arrived during the delay: it is extended"
    # Keep members arriving: the wait still ends within the rebalance timeout.
    for name in "cdefgh":
        h.join_new(client_id=name, rebalance_ms=4 * DELAY_MS)
        h.advance(DELAY_MS // 2)
        if h.answer(ta) is not None:
            break
    answer = h.answer(ta)
    assert answer is not None and answer["leader"] == a
    assert h.now - 1_700_000_000_000 <= 4 * DELAY_MS + DELAY_MS


def test_member_id_required_only_from_v4() -> None:
    h = Harness()
    old = h.answer(h.join(version=3))
    # v3 clients cannot echo a member id: they join directly.
    assert old is None
    assert len(h.group().members) == 1
    new = h.answer(h.join(version=4, client_id="n"))
    assert new is not None and new["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
    assert new["member_id"].startswith("n-")
    assert new["member_id"] in h.group().pending_members


def test_unclaimed_member_id_expires_after_the_session_timeout() -> None:
    h = Harness()
    given = h.answer(h.join(session_ms=1000))
    assert given is not None
    h.advance(1000)
    late = h.answer(h.join(given["member_id"]))
    assert late is not None and late["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID


def test_pending_member_id_holds_the_join_until_claimed() -> None:
    h = Harness()
    g = form_group(h, ["a"])
    a = g.ids["a"]
    given = h.answer(h.join(client_id="b"))  # pending: not yet a member
    assert given is not None
    ra = h.join(a)  # the leader rejoins: rebalance, but b's id is outstanding
    assert h.answer(ra) is None
    rb = h.join(given["member_id"], client_id="b")
    assert h.answer(ra) is not None and h.answer(rb) is not None
    assert h.answer(rb)["generation_id"] == g.generation + 1


def test_join_is_held_until_every_member_rejoins() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"], protocols=(("range", b"sub-a\x00\x01"),))
    a, b = g.ids["a"], g.ids["b"]
    c = h.join_new(client_id="c", protocols=(("range", b"sub-c"),))
    tc = h.last_ticket
    assert h.group().state is GroupState.PREPARING_REBALANCE
    assert h.heartbeat(a, g.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    ta = h.join(a, protocols=(("range", b"sub-a\x00\x01"),))
    assert h.answer(ta) is None and h.answer(tc) is None
    tb = h.join(b, protocols=(("range", b"sub-b"),))
    answers = {m: h.answer(t) for m, t in ((a, ta), (b, tb), (c, tc))}
    assert all(x is not None and x["generation_id"] == g.generation + 1 for x in answers.values())
    leader = answers[a]["leader"]
    assert leader == a, "the leader rejoined, it stays leader"
    assert {m["member_id"]: m["metadata"] for m in answers[a]["members"]} == {
        a: b"sub-a\x00\x01",
        b: b"sub-b",
        c: b"sub-c",
    }
    assert answers[b]["members"] == [] and answers[c]["members"] == []
    assert h.group().state is GroupState.COMPLETING_REBALANCE


def test_rebalance_timeout_removes_members_that_did_not_rejoin() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"], rebalance_ms=2000)
    a, b = g.ids["a"], g.ids["b"]
    ta = h.join(a, rebalance_ms=2000)
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.advance(1999)
    assert h.answer(ta) is None
    h.advance(1)
    answer = h.answer(ta)
    assert answer is not None and answer["members"] == [
        {"member_id": a, "group_instance_id": None, "metadata": b"meta"}
    ]
    assert b not in h.group().members
    assert h.heartbeat(b, g.generation) == ErrorCode.UNKNOWN_MEMBER_ID


def test_session_timeout_removes_member_and_leadership_moves() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"], session_ms=3000)
    a, b = g.ids["a"], g.ids["b"]
    assert g.leader == a
    for _ in range(2):
        h.advance(1000)
        assert h.heartbeat(b, g.generation) == ErrorCode.NONE
    h.advance(999)
    assert a in h.group().members
    h.advance(1)
    assert a not in h.group().members, "a sent no heartbeat for a whole session"
    assert h.group().state is GroupState.PREPARING_REBALANCE
    assert h.heartbeat(b, g.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    answer = h.answer(h.join(b, session_ms=3000))
    assert answer is not None and answer["leader"] == b
    assert answer["generation_id"] == g.generation + 1


def test_waiting_in_join_or_sync_is_not_a_session_timeout() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"], session_ms=1000, rebalance_ms=5000)
    a, b = g.ids["a"], g.ids["b"]
    ta = h.join(a, session_ms=1000, rebalance_ms=5000)
    for _ in range(6):
        h.advance(500)
        assert h.heartbeat(b, g.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    assert a in h.group().members and h.answer(ta) is None
    tb = h.join(b, session_ms=1000, rebalance_ms=5000)
    assert h.answer(ta) is not None and h.answer(tb) is not None
    gen = h.answer(ta)["generation_id"]
    follower_sync = h.sync(b, gen)
    for _ in range(6):
        h.advance(500)
        assert h.heartbeat(a, gen) == ErrorCode.NONE
    assert b in h.group().members and h.answer(follower_sync) is None


def test_last_member_leaving_empties_the_group() -> None:
    h = Harness()
    g = form_group(h, ["a"])
    assert h.leave(g.ids["a"]) == ErrorCode.NONE
    group = h.group()
    assert group.state is GroupState.EMPTY and not group.members
    assert group.generation == g.generation + 1
    last = stored_groups(h)[-1]
    assert last.members == () and last.generation == g.generation + 1 and last.protocol is None
    assert h.describe()["group_state"] == "Empty"


def test_leader_leaving_mid_rebalance_hands_leadership_on() -> None:
    h = Harness()
    g = form_group(h, ["a", "b", "c"])
    a, b, c = g.ids["a"], g.ids["b"], g.ids["c"]
    assert g.leader == a
    ta = h.join(a)  # the leader starts a rebalance, then leaves while held
    tb = h.join(b)
    assert h.leave(a) == ErrorCode.NONE
    held = h.answer(ta)
    assert held is not None and held["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.answer(tb) is None
    tc = h.join(c)
    answers = [h.answer(tb), h.answer(tc)]
    assert all(x is not None and x["error_code"] == 0 for x in answers)
    new_leader = answers[0]["leader"]
    assert new_leader in (b, c) and answers[1]["leader"] == new_leader
    leader_answer = answers[0] if new_leader == b else answers[1]
    assert {m["member_id"] for m in leader_answer["members"]} == {b, c}


def test_follower_sync_waits_for_the_leader_assignment() -> None:
    h = Harness()
    ids = {}
    tickets = {}
    for name in ("a", "b", "c"):
        ids[name] = h.join_new(client_id=name)
        tickets[name] = h.last_ticket
    h.wait(4 * DELAY_MS)
    gen = h.answer(tickets["a"])["generation_id"]
    leader = h.answer(tickets["a"])["leader"]
    followers = [m for m in ids.values() if m != leader]
    held = h.sync(followers[0], gen)
    assert h.answer(held) is None
    assert h.heartbeat(followers[1], gen) == ErrorCode.NONE  # CompletingRebalance: alive
    lead = h.sync(leader, gen, {leader: b"L", followers[0]: b"F0"})
    assert h.answer(lead)["assignment"] == b"L"
    assert h.answer(held)["assignment"] == b"F0"
    late = h.answer(h.sync(followers[1], gen))
    assert late is not None and late["error_code"] == 0 and late["assignment"] == b""
    assert h.group().state is GroupState.STABLE


def test_leader_that_never_syncs_times_out_into_a_rebalance() -> None:
    h = Harness()
    ids = {}
    tickets = {}
    for name in ("a", "b"):
        ids[name] = h.join_new(client_id=name, rebalance_ms=1000)
        tickets[name] = h.last_ticket
    h.wait(4 * DELAY_MS)
    gen = h.answer(tickets["a"])["generation_id"]
    leader = h.answer(tickets["a"])["leader"]
    follower = next(m for m in ids.values() if m != leader)
    held = h.sync(follower, gen)
    h.advance(h.group().sync_deadline - h.now - 1)
    assert h.answer(held) is None
    h.advance(1)
    answer = h.answer(held)
    assert answer is not None and answer["error_code"] == ErrorCode.REBALANCE_IN_PROGRESS
    assert leader not in h.group().members
    assert h.group().state is GroupState.PREPARING_REBALANCE
    rejoin = h.answer(h.join(follower, rebalance_ms=1000))
    assert rejoin is not None and rejoin["leader"] == follower


def test_sync_errors() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    a = g.ids["a"]
    assert h.answer(h.sync(a, g.generation - 1))["error_code"] == ErrorCode.ILLEGAL_GENERATION
    assert h.answer(h.sync("nobody", g.generation))["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
    assert (
        h.answer(h.sync(a, 1, group_id="other"))["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
    )
    ok = h.answer(h.sync(a, g.generation))
    assert ok["error_code"] == 0 and ok["assignment"] == b"a"
    h.join_new(client_id="c")
    assert h.answer(h.sync(a, g.generation))["error_code"] == ErrorCode.REBALANCE_IN_PROGRESS


def test_heartbeat_errors() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    a = g.ids["a"]
    assert h.heartbeat(a, g.generation) == ErrorCode.NONE
    assert h.heartbeat(a, g.generation - 1) == ErrorCode.ILLEGAL_GENERATION
    assert h.heartbeat(a, g.generation + 1) == ErrorCode.ILLEGAL_GENERATION
    assert h.heartbeat("stranger", g.generation) == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, g.generation, group_id="nope") == ErrorCode.UNKNOWN_MEMBER_ID


def test_protocol_all_members_support_is_chosen() -> None:
    h = Harness()
    t1 = h.join(
        version=3, client_id="rdkafka", protocols=(("range", b"r1"), ("roundrobin", b"rr1"))
    )
    t2 = h.join(version=3, client_id="aiokafka", protocols=(("roundrobin", b"rr2"),))
    h.wait(4 * DELAY_MS)
    one, two = h.answer(t1), h.answer(t2)
    assert one["protocol_name"] == two["protocol_name"] == "roundrobin"
    leader = one if one["members"] else two
    assert sorted(m["metadata"] for m in leader["members"]) == [b"rr1", b"rr2"]
    refused = h.answer(h.join(version=3, protocols=(("sticky", b""),)))
    assert refused["error_code"] == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    wrong_type = h.answer(
        h.join(version=3, protocol_type="connect", protocols=(("roundrobin", b""),))
    )
    assert wrong_type["error_code"] == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_protocol_chosen_by_member_preference_votes() -> None:
    h = Harness()
    both = ("range", b""), ("roundrobin", b"")
    tickets = [
        h.join(version=3, client_id="x", protocols=both),
        h.join(version=3, client_id="y", protocols=tuple(reversed(both))),
        h.join(version=3, client_id="z", protocols=tuple(reversed(both))),
    ]
    h.wait(4 * DELAY_MS)
    assert {h.answer(t)["protocol_name"] for t in tickets} == {"roundrobin"}


def test_empty_protocol_list_and_bad_session_timeout_are_refused() -> None:
    h = Harness(CoordinatorConfig(min_session_timeout_ms=100, max_session_timeout_ms=1000))
    no_protocols = h.answer(h.join(protocols=(), session_ms=500))
    assert no_protocols["error_code"] == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert h.answer(h.join(session_ms=99))["error_code"] == ErrorCode.INVALID_SESSION_TIMEOUT
    assert h.answer(h.join(session_ms=1001))["error_code"] == ErrorCode.INVALID_SESSION_TIMEOUT
    assert h.answer(h.join(group_id=""))["error_code"] == ErrorCode.INVALID_GROUP_ID
    assert h.group() is None, "a failed first join leaves no group behind"
    assert h.answer(h.join("made-up", session_ms=500))["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID


def test_group_max_size() -> None:
    h = Harness(
        CoordinatorConfig(initial_rebalance_delay_ms=0, min_session_timeout_ms=10, max_group_size=2)
    )
    h.join(client_id="a")
    h.join(client_id="b")
    third = h.answer(h.join(client_id="c"))
    assert third["error_code"] == ErrorCode.GROUP_MAX_SIZE_REACHED


def test_follower_rejoining_stable_with_same_metadata_gets_current_generation() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    b = g.ids["b"]
    again = h.answer(h.join(b))
    assert again is not None and again["generation_id"] == g.generation and again["members"] == []
    assert h.group().state is GroupState.STABLE
    changed = h.join(b, protocols=(("range", b"new topics"),))
    assert h.answer(changed) is None and h.group().state is GroupState.PREPARING_REBALANCE


def test_leader_rejoining_stable_starts_a_rebalance() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    assert h.answer(h.join(g.leader)) is None
    assert h.group().state is GroupState.PREPARING_REBALANCE


def test_completing_rebalance_join_with_same_metadata_repeats_the_answer() -> None:
    h = Harness()
    ids = {n: h.join_new(client_id=n) for n in ("a", "b")}
    h.wait(4 * DELAY_MS)
    assert h.group().state is GroupState.COMPLETING_REBALANCE
    again = h.answer(h.join(ids["a"]))
    assert again is not None and again["generation_id"] == h.group().generation
    assert {m["member_id"] for m in again["members"]} == set(ids.values())
    assert h.group().state is GroupState.COMPLETING_REBALANCE


def test_leave_v3_batch_by_member_id_and_instance_id() -> None:
    h = Harness()
    a = h.join_new(client_id="a")
    ts = h.join(instance_id="static-1", client_id="s")
    h.wait(4 * DELAY_MS)
    static_id = h.answer(ts)["member_id"]
    body = {
        "group_id": "g",
        "members": [
            {"member_id": a, "group_instance_id": None},
            {"member_id": "", "group_instance_id": "static-1"},
            {"member_id": "ghost", "group_instance_id": None},
            {"member_id": "wrong-id", "group_instance_id": "static-1"},
        ],
    }
    answer = h.answer(h.run(h.coordinator.leave_group(body, 3, h.now)))
    assert answer["error_code"] == 0
    assert [m["error_code"] for m in answer["members"]] == [
        ErrorCode.NONE,
        ErrorCode.NONE,
        ErrorCode.UNKNOWN_MEMBER_ID,
        ErrorCode.UNKNOWN_MEMBER_ID,  # the instance already left
    ]
    assert static_id not in h.group().members and h.group().state is GroupState.EMPTY
    assert h.leave("ghost") == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.leave("ghost", group_id="no-group") == ErrorCode.UNKNOWN_MEMBER_ID


def test_static_member_rejoin_keeps_generation_when_metadata_is_unchanged() -> None:
    h = Harness()
    g = form_group(h, ["a"], instance_id=None)
    ts = h.join(instance_id="pod-1", client_id="s")
    h.join(g.ids["a"])
    gen = h.answer(ts)["generation_id"]
    old_id = h.answer(ts)["member_id"]
    leader = h.answer(ts)["leader"]
    h.sync(leader, gen, {g.ids["a"]: b"A", old_id: b"S"})
    h.sync(old_id if leader != old_id else g.ids["a"], gen)
    assert h.group().state is GroupState.STABLE
    records_before = len(h.records)

    restarted = h.answer(h.join(instance_id="pod-1", client_id="s"))
    new_id = restarted["member_id"]
    assert restarted["error_code"] == 0 and new_id != old_id
    assert restarted["generation_id"] == gen and restarted["members"] == []
    assert h.group().state is GroupState.STABLE, "no rebalance"
    assert h.answer(h.sync(new_id, gen, instance_id="pod-1"))["assignment"] == b"S"
    stored = stored_groups(h)[-1]
    assert len(h.records) == records_before + 1
    assert {m.member_id for m in stored.members} == {g.ids["a"], new_id}
    assert h.heartbeat(old_id, gen, instance_id="pod-1") == ErrorCode.FENCED_INSTANCE_ID
    assert h.heartbeat(old_id, gen) == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat(new_id, gen, instance_id="pod-1") == ErrorCode.NONE


def test_static_member_rejoin_with_new_metadata_rebalances_and_fences_held_requests() -> None:
    h = Harness()
    ts = h.join(instance_id="pod-1", client_id="s")
    tb = h.join(version=3, client_id="b")
    h.wait(4 * DELAY_MS)
    old_id = h.answer(ts)["member_id"]
    gen = h.answer(ts)["generation_id"]
    b = h.answer(tb)["member_id"]
    leader = h.answer(ts)["leader"]
    h.sync(leader, gen, {})
    h.sync(b if leader != b else old_id, gen)
    held_old = h.join(old_id, instance_id="pod-1", protocols=(("range", b"v2"),))
    assert h.group().state is GroupState.PREPARING_REBALANCE
    replaced = h.join(instance_id="pod-1", client_id="s", protocols=(("range", b"v3"),))
    fenced = h.answer(held_old)
    assert fenced is not None and fenced["error_code"] == ErrorCode.FENCED_INSTANCE_ID
    h.join(b, version=3)
    answer = h.answer(replaced)
    assert answer is not None and answer["generation_id"] == gen + 1
    new_id = answer["member_id"]
    assert new_id != old_id and new_id in h.group().members and old_id not in h.group().members


def test_static_members_skip_member_id_required() -> None:
    h = Harness()
    answer = h.answer(h.join(instance_id="pod-9", version=5))
    assert answer is None, "held in the initial delay: a static member joins directly"
    assert "pod-9" in h.group().static_members


def test_delete_group_makes_it_dead() -> None:
    h = Harness()
    g = form_group(h, ["a"])
    assert h.commit({("t", 0): 1}, generation=g.generation, member_id=g.ids["a"]) == {("t", 0): 0}
    body = {"groups_names": ["g", "missing"]}
    refused = h.answer(h.run(h.coordinator.delete_groups(body, 2, h.now)))
    assert [r["error_code"] for r in refused["results"]] == [
        ErrorCode.NON_EMPTY_GROUP,
        ErrorCode.GROUP_ID_NOT_FOUND,
    ]
    h.leave(g.ids["a"])
    group = h.group()
    done = h.answer(h.run(h.coordinator.delete_groups({"groups_names": ["g"]}, 2, h.now)))
    assert done["results"] == [{"group_id": "g", "error_code": 0}]
    assert group.state is GroupState.DEAD and h.group() is None
    assert h.describe()["group_state"] == "Dead"
    assert h.records[-2:][-1][1] is None and h.fetch() == {}


def test_list_groups_with_state_filter() -> None:
    h = Harness()
    form_group(h, ["a"], group_id="g")
    h.commit({("t", 0): 1}, group_id="simple")
    everything = h.answer(h.run(h.coordinator.list_groups({}, 4, h.now)))["groups"]
    assert sorted((x["group_id"], x["group_state"], x["protocol_type"]) for x in everything) == [
        ("g", "Stable", "consumer"),
        ("simple", "Empty", ""),
    ]
    only = h.answer(h.run(h.coordinator.list_groups({"states_filter": ["empty"]}, 4, h.now)))
    assert [x["group_id"] for x in only["groups"]] == ["simple"]


def test_describe_reports_members_and_assignments_when_stable() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    described = h.describe()
    assert described["protocol_type"] == "consumer" and described["protocol_data"] == "range"
    assert {m["member_id"]: m["member_assignment"] for m in described["members"]} == {
        g.ids["a"]: b"a",
        g.ids["b"]: b"b",
    }
    assert all(m["client_host"] == "/127.0.0.1" for m in described["members"])


def test_static_member_that_does_not_rejoin_keeps_its_place_until_its_session_ends() -> None:
    h = Harness()
    ts = h.join(instance_id="pod-1", client_id="s", session_ms=3000, rebalance_ms=1000)
    ta = h.join(version=3, client_id="a", session_ms=60_000, rebalance_ms=1000)
    h.wait(4 * DELAY_MS)
    static_id, a = h.answer(ts)["member_id"], h.answer(ta)["member_id"]
    gen = h.answer(ta)["generation_id"]
    h.sync(h.answer(ta)["leader"], gen, {})
    h.sync(a if h.answer(ta)["leader"] != a else static_id, gen)
    assert h.leave(a) == ErrorCode.NONE
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.wait(1000)
    assert static_id in h.group().members, "static members outlive the rebalance timeout"
    assert h.group().state is GroupState.PREPARING_REBALANCE
    h.wait(3000)
    assert not h.group().members and h.group().state is GroupState.EMPTY
