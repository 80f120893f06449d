"""Where a follower truncates, from its epoch history and the leader's answer."""

from __future__ import annotations

from broker.replication.fetcher import Truncation, epoch_end, truncation_point


def test_epoch_end_is_the_start_of_the_next_epoch() -> None:
    entries = [(1, 0), (3, 10), (4, 25)]
    assert epoch_end(entries, 1, 40) == (1, 10)
    assert epoch_end(entries, 2, 40) == (1, 10)
    assert epoch_end(entries, 4, 40) == (4, 40)
    assert epoch_end(entries, 9, 40) == (4, 40)
    assert epoch_end(entries, 0, 40) == (-1, -1)


def test_same_epoch_truncates_to_the_smaller_end() -> None:
    # The follower was leader of epoch 2 and wrote past what the new leader got.
    entries = [(1, 0), (2, 10)]
    assert truncation_point(2, 2, 15, entries, log_end=30, high_watermark=12) == Truncation(15)
    # The leader has more of epoch 2 than the follower: nothing to cut.
    assert truncation_point(2, 2, 50, entries, log_end=30, high_watermark=12) == Truncation(30)


def test_an_epoch_the_leader_never_had_is_cut_where_it_began() -> None:
    # Leader's epochs: 1 then 3.  Follower wrote epoch 2 (as a leader nobody followed).
    entries = [(1, 0), (2, 10)]
    # The leader's epoch 1 ended at 12, the follower's at 10: they agree up to 10.
    decision = truncation_point(2, 1, 12, entries, log_end=30, high_watermark=5)
    assert decision == Truncation(10)


def test_walking_back_over_several_epochs() -> None:
    entries = [(1, 0), (4, 20), (6, 35)]
    first = truncation_point(6, 5, 40, entries, log_end=50, high_watermark=0)
    assert first == Truncation(35, next_epoch=4)
    second = truncation_point(4, 3, 18, entries[:2], log_end=35, high_watermark=0)
    assert second == Truncation(20, next_epoch=1)
    third = truncation_point(1, 1, 18, entries[:1], log_end=20, high_watermark=0)
    assert third == Truncation(18)


def test_an_unknown_epoch_leaves_only_the_high_watermark() -> None:
    entries = [(7, 0)]
    assert truncation_point(7, -1, -1, entries, log_end=30, high_watermark=12) == Truncation(12)
    assert truncation_point(-1, -1, -1, [], log_end=30, high_watermark=40) == Truncation(30)


def test_epochs_all_newer_than_the_answer_are_cut_from_their_start() -> None:
    entries = [(5, 8), (6, 20)]
    assert truncation_point(6, 3, 15, entries, log_end=30, high_watermark=0) == Truncation(8)
