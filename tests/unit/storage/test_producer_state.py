"""Idempotent producers: duplicates, gaps and fencing, and their state across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.storage import (
    Log,
    LogConfig,
    OutOfOrderSequenceError,
    ProducerFencedError,
    SequenceStatus,
)
from unit.storage.storage_helpers import bytes_from_segment_of, make_batch

PID = 4000
CONFIG = LogConfig(segment_bytes=350, index_interval_bytes=100)


def batch(seq: int, count: int = 2, epoch: int = 0, pid: int = PID) -> bytes:
    return make_batch(
        [b"v%d" % (seq + i) for i in range(count)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


def test_sequence_rules(tmp_path: Path) -> None:
    log = Log(str(tmp_path / "t-0"), CONFIG)
    log.append_as_leader(make_batch([b"plain"]), 0)  # producer-less batches are not tracked
    first = log.append_as_leader(batch(0), 0)
    assert log.check_producer(batch(0)).status is SequenceStatus.DUPLICATE
    assert log.check_producer(batch(2)).status is SequenceStatus.OK
    assert log.check_producer(batch(3)).status is SequenceStatus.OUT_OF_ORDER
    assert log.check_producer(batch(2, epoch=1)).status is SequenceStatus.OUT_OF_ORDER
    assert log.check_producer(batch(0, epoch=1)).status is SequenceStatus.OK
    assert (
        log.check_producer(batch(17, pid=PID + 1)).status is SequenceStatus.OK
    )  # unknown producer
    retry = log.append_as_leader(batch(0), 0)
    assert retry.duplicate and (retry.first_offset, retry.last_offset) == (
        first.first_offset,
        first.last_offset,
    )
    end = log.log_end_offset
    with pytest.raises(OutOfOrderSequenceError):
        log.append_as_leader(batch(5), 0)
    log.append_as_leader(batch(0, epoch=2), 0)
    with pytest.raises(ProducerFencedError):
        log.append_as_leader(batch(2, epoch=1), 0)
    assert log.log_end_offset == end + 2
    log.close()


def test_the_last_five_batches_are_remembered(tmp_path: Path) -> None:
    log = Log(str(tmp_path / "t-0"), CONFIG)
    offsets = [log.append_as_leader(batch(2 * i), 0).first_offset for i in range(7)]
    for i in range(2, 7):
        check = log.check_producer(batch(2 * i))
        assert (check.status, check.first_offset) == (SequenceStatus.DUPLICATE, offsets[i])
    assert log.check_producer(batch(0)).status is SequenceStatus.OUT_OF_ORDER  # forgotten
    two = batch(14) + batch(16)
    assert log.check_producer(two).status is SequenceStatus.OK  # checked one after the other
    assert log.check_producer(batch(14) + batch(17)).status is SequenceStatus.OUT_OF_ORDER
    log.close()


@pytest.mark.parametrize("restart", ["clean", "crash", "crash-after-flush", "lost-snapshots"])
def test_deduplication_survives_restarts(tmp_path: Path, restart: str) -> None:
    path = str(tmp_path / "t-0")
    log = Log(path, CONFIG)
    offsets = [log.append_as_leader(batch(2 * i), 0).first_offset for i in range(12)]
    assert len(log.segments) > 2  # snapshots were taken on roll
    state = {pid: repr(entry) for pid, entry in log.producers.producers.items()}
    point = None
    if restart == "crash-after-flush":
        log.flush()
        point = log.recovery_point
    if restart == "clean" or restart == "lost-snapshots":
        log.close()
    else:
        log.abandon()
    if restart == "lost-snapshots":
        for snapshot in (tmp_path / "t-0").glob("*.snapshot"):
            snapshot.unlink()
    again = Log(path, CONFIG, recovery_point=point)
    assert {pid: repr(entry) for pid, entry in again.producers.producers.items()} == state
    check = again.check_producer(batch(20))
    assert (check.status, check.first_offset) == (SequenceStatus.DUPLICATE, offsets[10])
    if restart == "crash-after-flush":
        # Read back: the segment holding the recovery point, nothing below it.
        assert again.recovery.stats.scanned == bytes_from_segment_of(path, point) < again.size
    again.close()


def test_truncation_rewinds_producer_state(tmp_path: Path) -> None:
    log = Log(str(tmp_path / "t-0"), CONFIG)
    offsets = [log.append_as_leader(batch(2 * i), 0).first_offset for i in range(10)]
    log.truncate_to(offsets[6])
    assert log.check_producer(batch(12)).status is SequenceStatus.OK
    check = log.check_producer(batch(10))
    assert (check.status, check.first_offset) == (SequenceStatus.DUPLICATE, offsets[5])
    log.close()


def test_deduplication_after_a_crash_with_the_last_snapshot_at_the_roll(tmp_path: Path) -> None:
    path = str(tmp_path / "t-0")
    log = Log(path, CONFIG)
    other = log.append_as_leader(batch(0, pid=PID + 1), 0)  # only ever below the last roll
    offsets = []
    for i in range(12):
        offsets.append(log.append_as_leader(batch(2 * i), 0).first_offset)
        log.flush()  # a round after every append, as acks=all asks
    base = log.active_segment.base_offset
    assert max(log.producers.snapshot_offsets()) == base  # snapshots only at rolls
    assert min(offsets[-5:]) < base <= max(offsets[-5:])  # the last five straddle the roll
    point = log.recovery_point
    log.abandon()
    again = Log(path, CONFIG, recovery_point=point)
    assert again.recovery.stats.headers == 0  # the state below the roll came from its snapshot
    for i in range(7, 12):
        check = again.check_producer(batch(2 * i))
        assert (check.status, check.first_offset) == (SequenceStatus.DUPLICATE, offsets[i])
    check = again.check_producer(batch(0, pid=PID + 1))
    assert (check.status, check.first_offset) == (SequenceStatus.DUPLICATE, other.first_offset)
    assert again.check_producer(batch(12)).status is SequenceStatus.OUT_OF_ORDER  # forgotten
    assert again.check_producer(batch(26)).status is SequenceStatus.OUT_OF_ORDER
    retry = again.append_as_leader(batch(22), 0)
    assert retry.duplicate and retry.first_offset == offsets[11]
    assert again.append_as_leader(batch(24), 0).first_offset == point
    again.close()
