"""Subscription state: modes, positions, the seq that marks fetched data stale, processed
offsets for auto-commit."""

from __future__ import annotations

import pytest

from client.consumer.structs import OffsetAndMetadata, TopicPartition as TP
from client.consumer.subscription import SubscriptionMode, SubscriptionState

A0, A1, B0 = TP("a", 0), TP("a", 1), TP("b", 0)


def test_subscribe_and_assign_do_not_mix() -> None:
    subs = SubscriptionState("latest", uses_group=True)
    assert subs.subscribe(["a", "b"]) and not subs.subscribe(["b", "a"])
    assert subs.mode == SubscriptionMode.TOPICS and subs.group_managed
    with pytest.raises(ValueError, match="unsubscribe"):
        subs.assign([A0])
    subs.unsubscribe()
    subs.assign([A0])
    assert subs.mode == SubscriptionMode.MANUAL and not subs.group_managed
    with pytest.raises(ValueError):
        subs.subscribe(["a"])


def test_new_partitions_wait_for_committed_offsets_in_a_group_else_for_a_reset() -> None:
    grouped = SubscriptionState("earliest", uses_group=True)
    grouped.assign([A0])
    assert grouped.state(A0).needs_committed and grouped.state(A0).reset is None
    alone = SubscriptionState("earliest", uses_group=False)
    alone.assign([A0])
    assert not alone.state(A0).needs_committed and alone.state(A0).reset == "earliest"
    assert alone.missing_positions() == [A0] and alone.fetchable() == []


def test_reassignment_keeps_state_of_kept_partitions_and_marks_dropped_ones_stale() -> None:
    subs = SubscriptionState("latest", uses_group=True)
    subs.set_assignment([A0, A1])
    subs.seek(A0, 5)
    dropped = subs.state(A1)
    seq = dropped.seq
    subs.set_assignment([A0, B0])
    assert subs.state(A0).position == 5
    assert dropped.seq == seq + 1 and subs.get(A1) is None
    with pytest.raises(KeyError, match="a-1"):
        subs.state(A1)


def test_seek_reset_and_pause_change_seq() -> None:
    subs = SubscriptionState("latest", uses_group=False)
    subs.assign([A0])
    state = subs.state(A0)
    seqs = [state.seq]
    subs.seek(A0, 3)
    seqs.append(state.seq)
    state.fetch_offset = 9  # fetched ahead of the position
    subs.pause([A0])
    seqs.append(state.seq)
    assert state.fetch_offset == 3 and subs.paused() == {A0}
    subs.resume([A0])
    subs.request_reset([A0], "earliest")
    seqs.append(state.seq)
    assert len(set(seqs)) == 4 and state.position is None
    with pytest.raises(ValueError):
        subs.seek(A0, -1)


def test_processed_offsets_lag_consumed_ones_until_the_next_poll() -> None:
    subs = SubscriptionState("latest", uses_group=True)
    subs.assign([A0, A1])
    subs.seek(A0, 10, epoch=1)
    subs.mark_processed()
    subs.state(A0).position = 15  # records returned by a poll, not yet processed
    subs.state(A0).position_epoch = 2
    assert subs.processed_offsets() == {A0: OffsetAndMetadata(10, "", 1)}
    assert subs.consumed_offsets() == {A0: OffsetAndMetadata(15, "", 2)}
    subs.mark_processed()
    assert subs.processed_offsets() == {A0: OffsetAndMetadata(15, "", 2)}


def test_pattern_subscription_matches_whole_names() -> None:
    subs = SubscriptionState("latest", uses_group=True)
    subs.subscribe_pattern(r"orders\..*", None)
    assert subs.match_pattern(["orders.eu", "orders.us", "xorders.eu", "__consumer_offsets"])
    assert subs.topics == {"orders.eu", "orders.us"}
    assert not subs.match_pattern(["orders.us", "orders.eu"])
