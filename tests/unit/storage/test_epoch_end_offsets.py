"""End offsets of leader epochs as OffsetForLeaderEpoch answers them (Kafka's rules)."""

from __future__ import annotations

from broker.storage.epochs import LeaderEpochCache


def test_end_offset_of_each_epoch(tmp_path):
    cache = LeaderEpochCache(str(tmp_path))
    cache.assign(1, 0)
    cache.assign(3, 10)
    cache.assign(4, 25)
    assert cache.end_offset_for_epoch(1, 40) == (1, 10)
    assert cache.end_offset_for_epoch(2, 40) == (1, 10)  # unknown epoch: the one before it
    assert cache.end_offset_for_epoch(3, 40) == (3, 25)
    assert cache.end_offset_for_epoch(4, 40) == (4, 40)  # the latest ends at the log end


def test_epochs_outside_the_history_are_undefined(tmp_path):
    cache = LeaderEpochCache(str(tmp_path))
    assert cache.end_offset_for_epoch(0, 0) == (-1, -1)
    cache.assign(2, 5)
    assert cache.end_offset_for_epoch(1, 9) == (-1, -1)  # before the first known epoch
    assert cache.end_offset_for_epoch(3, 9) == (-1, -1)  # newer than any: a future epoch
