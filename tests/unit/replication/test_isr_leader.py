"""The leader's ISR and high-watermark rules (``broker.replication.leader``) on a made-up clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.replication.leader import LeaderState

LAG_MS = 3_000


def leader(isr: tuple[int, ...] = (1, 2, 3), hw: int = 0, start: int = 0) -> LeaderState:
    """Broker 1 leading replicas 1, 2, 3 since time 0."""
    return LeaderState(1, (1, 2, 3), isr, epoch_start_offset=start, high_watermark=hw, now_ms=0)


def test_high_watermark_is_the_smallest_log_end_offset_of_the_isr() -> None:
    state = leader()
    state.record_fetch(2, 7, leader_end_offset=10, now_ms=1)
    assert not state.update_high_watermark(own_end_offset=10, min_insync=1), (
        "follower 3 has not fetched yet: its progress is unknown"
    )
    state.record_fetch(3, 4, leader_end_offset=10, now_ms=2)
    assert state.update_high_watermark(own_end_offset=10, min_insync=1)
    assert state.high_watermark == 4
    state.record_fetch(3, 10, leader_end_offset=10, now_ms=3)
    state.update_high_watermark(own_end_offset=10, min_insync=1)
    assert state.high_watermark == 7
    state.record_fetch(2, 10, leader_end_offset=12, now_ms=4)
    state.update_high_watermark(own_end_offset=9, min_insync=1)
    assert state.high_watermark == 9, "the leader's own (durable) end counts too"


def test_the_watermark_counts_what_a_follower_reports_fsynced_not_what_it_fetched() -> None:
    state = leader()
    state.record_fetch(2, 10, leader_end_offset=10, now_ms=1, durable_offset=6)
    state.record_fetch(3, 10, leader_end_offset=10, now_ms=1)  # no durable offset: all of it
    assert state.update_high_watermark(own_end_offset=10, min_insync=2)
    assert state.high_watermark == 6
    assert state.out_of_sync(now_ms=LAG_MS, max_lag_ms=LAG_MS) == [], (
        "fetching at the log end is being caught up, fsynced or not"
    )
    state.record_fetch(2, 10, leader_end_offset=10, now_ms=2, durable_offset=10)
    state.update_high_watermark(own_end_offset=10, min_insync=2)
    assert state.high_watermark == 10


def test_a_replica_rejoins_the_isr_only_with_the_watermark_fsynced() -> None:
    state = leader(isr=(1, 2), hw=8)
    state.record_fetch(3, 9, leader_end_offset=9, now_ms=1, durable_offset=5)
    assert state.propose_expand(3) is None, "fetched past the watermark, fsynced below it"
    state.record_fetch(3, 9, leader_end_offset=9, now_ms=2, durable_offset=8)
    assert state.propose_expand(3) == (1, 2, 3)


def test_a_follower_outside_the_isr_does_not_hold_the_watermark_back() -> None:
    state = leader(isr=(1, 2))
    state.record_fetch(2, 5, leader_end_offset=5, now_ms=1)
    state.update_high_watermark(own_end_offset=5, min_insync=2)
    assert state.high_watermark == 5


def test_the_watermark_is_frozen_while_the_isr_is_below_min_insync() -> None:
    state = leader(isr=(1,), hw=3)
    assert not state.update_high_watermark(own_end_offset=10, min_insync=2)
    assert state.high_watermark == 3
    state.isr_committed((1, 2))
    state.record_fetch(2, 8, leader_end_offset=10, now_ms=1)
    assert state.update_high_watermark(own_end_offset=10, min_insync=2)
    assert state.high_watermark == 8


def test_the_watermark_never_goes_backwards() -> None:
    state = leader(hw=6)
    state.record_fetch(2, 2, leader_end_offset=10, now_ms=1)
    state.record_fetch(3, 2, leader_end_offset=10, now_ms=1)
    assert not state.update_high_watermark(own_end_offset=10, min_insync=1)
    assert state.high_watermark == 6


@given(
    st.lists(
        st.tuples(st.sampled_from([2, 3]), st.integers(0, 50), st.integers(0, 50)),
        max_size=30,
    )
)
def test_watermark_is_monotonic_and_never_passes_an_isr_member(
    fetches: list[tuple[int, int, int]],
) -> None:
    state = leader()
    previous = state.high_watermark
    for now, (replica, offset, own) in enumerate(fetches):
        state.record_fetch(replica, offset, leader_end_offset=own, now_ms=now)
        state.update_high_watermark(own_end_offset=own, min_insync=2)
        assert state.high_watermark >= previous
        if state.high_watermark > previous:
            ends = [state.followers[r].log_end_offset for r in (2, 3)]
            assert state.high_watermark <= min([*ends, own])
        previous = state.high_watermark


def test_a_follower_that_stops_fetching_leaves_after_the_lag_time() -> None:
    state = leader()
    for now in range(0, 5_000, 500):
        state.record_fetch(2, 10, leader_end_offset=10, now_ms=now)
    state.record_fetch(3, 10, leader_end_offset=10, now_ms=1_000)
    assert state.propose_shrink(now_ms=1_000 + LAG_MS, max_lag_ms=LAG_MS) is None
    assert state.propose_shrink(now_ms=1_001 + LAG_MS, max_lag_ms=LAG_MS) == (1, 2)
    assert state.pending_isr == (1, 2)
    assert state.propose_shrink(now_ms=9_000, max_lag_ms=LAG_MS) is None, "one change at a time"


def test_a_follower_behind_is_caught_up_at_its_previous_fetch_if_it_reached_that_end() -> None:
    state = leader()
    state.record_fetch(3, 10, leader_end_offset=10, now_ms=0)
    # Appends keep the leader ahead of every fetch, but each fetch reaches the end the leader
    # had at the previous one: the follower keeps up, one fetch behind.
    for step in range(1, 10):
        now = step * 1_000
        state.record_fetch(3, 10 * step, leader_end_offset=10 * step + 10, now_ms=now)
        state.record_fetch(2, 10 * step + 10, leader_end_offset=10 * step + 10, now_ms=now)
        assert state.propose_shrink(now_ms=now, max_lag_ms=LAG_MS) is None
    assert state.followers[3].last_caught_up_ms == 8_000


def test_a_follower_that_falls_further_behind_leaves() -> None:
    state = leader()
    state.record_fetch(3, 0, leader_end_offset=10, now_ms=0)
    for step in range(1, 6):
        # Fetches arrive, but never reach the end the leader had at the previous fetch.
        state.record_fetch(3, step, leader_end_offset=10 * step + 10, now_ms=step * 1_000)
        state.record_fetch(2, 10 * step + 10, leader_end_offset=10 * step + 10,
                           now_ms=step * 1_000)
    assert state.propose_shrink(now_ms=5_000, max_lag_ms=LAG_MS) == (1, 2)


def test_a_replica_rejoins_once_it_reaches_the_watermark_in_this_epoch() -> None:
    state = leader(isr=(1, 2), hw=20, start=15)
    state.record_fetch(3, 12, leader_end_offset=30, now_ms=1)
    assert state.propose_expand(3) is None
    state.record_fetch(3, 19, leader_end_offset=30, now_ms=2)
    assert state.propose_expand(3) is None, "below the high watermark"
    state.record_fetch(3, 20, leader_end_offset=30, now_ms=3)
    assert state.propose_expand(3) == (1, 2, 3)
    assert state.maximal_isr == (1, 2, 3)


def test_a_replica_below_the_epoch_start_does_not_rejoin() -> None:
    state = leader(isr=(1, 2), hw=5, start=10)
    state.record_fetch(3, 8, leader_end_offset=12, now_ms=1)
    assert state.propose_expand(3) is None


def test_the_watermark_counts_a_replica_being_added() -> None:
    state = leader(isr=(1, 2), hw=20)
    state.record_fetch(2, 40, leader_end_offset=40, now_ms=1)
    state.record_fetch(3, 25, leader_end_offset=40, now_ms=1)
    assert state.propose_expand(3) == (1, 2, 3)
    state.update_high_watermark(own_end_offset=40, min_insync=2)
    assert state.high_watermark == 25, "while the expansion is in flight it counts"


def test_a_failed_isr_write_allows_a_new_proposal() -> None:
    state = leader()
    assert state.propose_shrink(now_ms=LAG_MS + 1, max_lag_ms=LAG_MS) == (1,)
    assert state.propose_shrink(now_ms=LAG_MS + 2, max_lag_ms=LAG_MS) is None
    state.isr_change_failed()
    assert state.propose_shrink(now_ms=LAG_MS + 3, max_lag_ms=LAG_MS) == (1,)
    state.isr_committed((1, 2))
    assert state.isr == (1, 2) and state.pending_isr is None
