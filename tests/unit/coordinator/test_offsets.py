"""Offset commit and fetch rules, offset deletion, group deletion and offset expiry."""

from __future__ import annotations

import struct

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.errors import ErrorCode
from broker.coordinator.formats import (
    OffsetKey,
    decode_key,
    decode_offset_value,
)
from broker.coordinator.group import GroupState
from unit.coordinator.harness import DELAY_MS, TEST_CONFIG, Harness, form_group


def consumer_subscription(*topics: str) -> bytes:
    """A consumer protocol subscription (version 0): topics and empty user data."""
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


def test_member_commit_and_fetch_specific_and_all() -> None:
    h = Harness()
    g = form_group(h, ["a"])
    a = g.ids["a"]
    result = h.commit(
        {("t", 0): 10, ("t", 1): 11, ("u", 0): 5},
        generation=g.generation, member_id=a, metadata="note",
    )
    assert set(result.values()) == {ErrorCode.NONE}
    assert h.fetch({"t": [1, 7]}) == {("t", 1): 11, ("t", 7): -1}
    assert h.fetch() == {("t", 0): 10, ("t", 1): 11, ("u", 0): 5}
    assert h.fetch(group_id="unknown") == {}
    assert h.fetch({"t": [0]}, group_id="unknown") == {("t", 0): -1}
    ticket = h.run(
        h.coordinator.fetch_offsets(
            {"group_id": "g", "topics": [{"name": "t", "partition_indexes": [0]}]}, 7, h.now
        )
    )
    (partition,) = h.answer(ticket)["topics"][0]["partitions"]
    assert partition["metadata"] == "note" and partition["committed_leader_epoch"] == 3
    h.commit({("t", 0): 12}, generation=g.generation, member_id=a)
    assert h.fetch({"t": [0]}) == {("t", 0): 12}


def test_commit_record_is_kafkas_offset_format() -> None:
    h = Harness()
    h.commit({("orders", 4): 99}, group_id="simple", metadata="m")
    (key, value), = h.records
    assert decode_key(key) == OffsetKey("simple", "orders", 4)
    assert key[:2] == b"\x00\x01" and value is not None and value[:2] == b"\x00\x03"
    decoded = decode_offset_value(value)
    assert (decoded.offset, decoded.leader_epoch, decoded.metadata) == (99, 3, "m")
    assert decoded.commit_timestamp == h.now


def test_commit_generation_and_member_checks() -> None:
    h = Harness()
    g = form_group(h, ["a", "b"])
    a = g.ids["a"]
    tp = {("t", 0): 1}
    stale = h.commit(tp, generation=g.generation - 1, member_id=a)
    assert stale[("t", 0)] == ErrorCode.ILLEGAL_GENERATION
    stranger = h.commit(tp, generation=g.generation, member_id="x")
    assert stranger[("t", 0)] == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.commit(tp)[("t", 0)] == ErrorCode.UNKNOWN_MEMBER_ID, "simple commit to a live group"
    assert h.commit(tp, group_id="nope", generation=3, member_id="m")[("t", 0)] == (
        ErrorCode.ILLEGAL_GENERATION
    )
    # Preparing a rebalance: the current generation may still commit (eager revocation).
    h.join_new(client_id="c")
    assert h.group().state is GroupState.PREPARING_REBALANCE
    assert h.commit(tp, generation=g.generation, member_id=a)[("t", 0)] == ErrorCode.NONE
    h.join(a)
    h.join(g.ids["b"])
    assert h.group().state is GroupState.COMPLETING_REBALANCE
    new_gen = h.group().generation
    completing = h.commit(tp, generation=new_gen, member_id=a)
    assert completing[("t", 0)] == ErrorCode.REBALANCE_IN_PROGRESS
    assert h.fetch() == {("t", 0): 1}


def test_simple_commits_to_empty_or_new_groups() -> None:
    h = Harness()
    assert h.commit({("t", 0): 7}, group_id="standalone") == {("t", 0): ErrorCode.NONE}
    assert h.group("standalone").state is GroupState.EMPTY
    g = form_group(h, ["a"])
    h.leave(g.ids["a"])
    assert h.commit({("t", 3): 70}) == {("t", 3): ErrorCode.NONE}
    assert h.fetch({"t": [3]}) == {("t", 3): 70}


def test_oversized_metadata_fails_only_that_request() -> None:
    h = Harness(CoordinatorConfig(offset_metadata_max_bytes=4))
    too_large = h.commit({("t", 0): 1}, metadata="12345")
    assert too_large == {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE}
    assert h.commit({("t", 0): 1}, metadata="1234") == {("t", 0): ErrorCode.NONE}
    assert h.commit({("t", 1): 1}, metadata=None) == {("t", 1): ErrorCode.NONE}


def test_v0_commit_without_generation_is_a_simple_commit() -> None:
    h = Harness()
    body = {
        "group_id": "old",
        "topics": [{"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 5}]}],
    }
    answer = h.answer(h.run(h.coordinator.commit_offsets(body, 0, h.now)))
    assert answer["topics"][0]["partitions"][0]["error_code"] == ErrorCode.NONE
    assert h.fetch({"t": [0]}, group_id="old") == {("t", 0): 5}


def delete_offsets(h: Harness, group_id: str, topics: dict[str, list[int]]) -> dict:
    body = {
        "group_id": group_id,
        "topics": [
            {"name": t, "partitions": [{"partition_index": p} for p in ps]}
            for t, ps in topics.items()
        ],
    }
    return h.answer(h.run(h.coordinator.delete_offsets(body, 0, h.now)))


def test_offset_delete_refuses_subscribed_topics() -> None:
    h = Harness()
    g = form_group(h, ["a"], protocols=(("range", consumer_subscription("live")),))
    a = g.ids["a"]
    h.commit({("live", 0): 1, ("gone", 0): 2}, generation=g.generation, member_id=a)
    answer = delete_offsets(h, "g", {"live": [0], "gone": [0]})
    codes = {t["name"]: t["partitions"][0]["error_code"] for t in answer["topics"]}
    assert answer["error_code"] == 0
    assert codes == {"live": ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, "gone": ErrorCode.NONE}
    assert h.fetch() == {("live", 0): 1}
    assert h.records[-1][1] is None
    assert delete_offsets(h, "missing", {"t": [0]})["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
    h.leave(a)
    answer = delete_offsets(h, "g", {"live": [0]})
    assert answer["topics"][0]["partitions"][0]["error_code"] == ErrorCode.NONE
    assert h.fetch() == {}


def test_offset_delete_on_a_busy_non_consumer_group_is_refused() -> None:
    h = Harness()
    g = form_group(h, ["a"], protocol_type="connect")
    h.commit({("t", 0): 1}, generation=g.generation, member_id=g.ids["a"])
    assert delete_offsets(h, "g", {"t": [0]})["error_code"] == ErrorCode.NON_EMPTY_GROUP
    assert h.fetch() == {("t", 0): 1}


def test_offsets_of_empty_groups_expire_and_the_group_goes() -> None:
    config = CoordinatorConfig(
        initial_rebalance_delay_ms=DELAY_MS,
        min_session_timeout_ms=10,
        offsets_retention_ms=10_000,
        offsets_retention_check_interval_ms=1_000,
    )
    h = Harness(config)
    g = form_group(h, ["a"])
    h.commit({("t", 0): 1}, generation=g.generation, member_id=g.ids["a"])
    h.commit({("s", 0): 1}, group_id="simple")
    h.wait(5_000, step=1_000)
    h.commit({("s", 1): 2}, group_id="simple")
    for _ in range(8):
        h.advance(1_000)
        assert h.heartbeat(g.ids["a"], g.generation) == ErrorCode.NONE
    assert h.fetch() == {("t", 0): 1}, "a live group keeps its offsets"
    assert h.fetch(group_id="simple") == {("s", 1): 2}, "each offset lives its own retention"
    h.leave(g.ids["a"])
    emptied = h.now
    h.wait(9_000, step=1_000)
    assert h.fetch() == {("t", 0): 1}
    h.wait(2_000, step=1_000)
    assert h.fetch() == {} and h.group() is None and h.group("simple") is None
    tombstoned = [decode_key(k) for k, v in h.records if v is None]
    assert OffsetKey("g", "t", 0) in tombstoned and ("g",) in [tuple(k) for k in tombstoned]
    assert h.now - emptied >= 10_000


def test_default_retention_is_seven_days() -> None:
    assert TEST_CONFIG.offsets_retention_ms == CoordinatorConfig().offsets_retention_ms
    assert CoordinatorConfig().offsets_retention_ms == 7 * 24 * 3600 * 1000
    assert CoordinatorConfig().initial_rebalance_delay_ms == 3000
