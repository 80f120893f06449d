"""A partition's log through its public API: appends, reads, rolls, truncation, retention."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

import native
from broker.storage import (
    InvalidRecordsError,
    Log,
    LogConfig,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    StorageError,
)
from unit.storage.storage_helpers import BASE_TS, make_batch, read_all, small_batches


class Clock:
    """A settable millisecond clock."""

    def __init__(self, now: int = BASE_TS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def open_log(path: Path, **overrides: object) -> Log:
    config = dataclasses.replace(LogConfig(index_interval_bytes=100), **overrides)
    return Log(str(path / "t-0"), config)


def headers(log: Log) -> list[tuple[int, int]]:
    return [(i.base_offset, i.base_offset + i.last_offset_delta) for i in log.batches()]


# -- append ----------------------------------------------------------------------------


def test_append_assigns_offsets_and_epoch_in_place(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    first = bytearray(make_batch([b"a", b"b", b"c"], ts_deltas=[0, 5, 2]))
    info = log.append_as_leader(first, 7)
    assert (info.first_offset, info.last_offset, info.record_count) == (0, 2, 3)
    # batch granularity (records are not decoded): the batch's last offset stands for it
    assert (info.max_timestamp, info.offset_of_max_timestamp) == (BASE_TS + 5, 2)
    assert first[0:8] == (0).to_bytes(8, "big") and first[12:16] == (7).to_bytes(4, "big")
    second = make_batch([b"d"])  # read-only input: copied, then patched
    info = log.append_as_leader(second, 7)
    assert (info.first_offset, info.last_offset) == (3, 3)
    assert log.log_end_offset == 4
    data = read_all(log)
    scanned = native.scan_batches(data)
    assert scanned.error is None
    assert [(b.base_offset, b.partition_leader_epoch) for b in scanned.batches] == [(0, 7), (3, 7)]
    assert data[len(first) :][16:] == second[16:]
    log.close()


def test_kafka_python_batches_round_trip(tmp_path: Path) -> None:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(5):
        builder.append(i, timestamp=BASE_TS + i, key=b"k%d" % i, value=b"v" * i, headers=[])
    batch = bytes(builder.build())
    log = open_log(tmp_path)
    log.append_as_leader(make_batch([b"x", b"y"]), 0)
    log.append_as_leader(batch, 0)
    stored = log.read(2, 1 << 20).to_bytes()
    decoded = DefaultRecordBatch(stored)
    assert decoded.base_offset == 2 and decoded.validate_crc()
    assert [(r.offset, r.key, r.value) for r in decoded] == [
        (2 + i, b"k%d" % i, b"v" * i) for i in range(5)
    ]
    log.close()


@pytest.mark.parametrize(
    ("damage", "batch_index", "where", "reason"),
    [
        (lambda b: b[:17] + bytes([b[17] ^ 1]) + b[18:], 1, 17, "bad_crc"),
        (lambda b: b[:16] + b"\x01" + b[17:], 1, 16, "bad_magic"),
        (lambda b: b[:-1], 1, 0, "truncated"),
        (lambda b: b[:8] + (10).to_bytes(4, "big") + b[12:], 1, 8, "bad_length"),
    ],
)
def test_invalid_append_writes_nothing_and_says_where(
    tmp_path: Path, damage: Callable[[bytes], bytes], batch_index: int, where: int, reason: str
) -> None:
    log = open_log(tmp_path)
    log.append_as_leader(make_batch([b"first"]), 0)
    size, end = log.size, log.log_end_offset
    good, bad, after = (make_batch([b"v%d" % i] * 2) for i in range(3))
    # a cut batch is only "truncated" at the end of the input
    payload = bytearray(good + damage(bad) + (after if reason != "truncated" else b""))
    before = bytes(payload)
    with pytest.raises(InvalidRecordsError) as caught:
        log.append_as_leader(payload, 0)
    assert (caught.value.batch_index, caught.value.position, caught.value.reason) == (
        batch_index,
        len(good) + where,
        reason,
    )
    assert f"batch {batch_index}" in str(caught.value) and reason in str(caught.value)
    assert (log.size, log.log_end_offset) == (size, end)
    assert bytes(payload) == before  # not even patched
    log.close()


def test_empty_and_oversized_appends_are_refused(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes=1000, max_message_bytes=300)
    with pytest.raises(InvalidRecordsError, match="empty"):
        log.append_as_leader(b"", 0)
    with pytest.raises(RecordTooLargeError):
        log.append_as_leader(make_batch([b"x" * 400]), 0)
    with pytest.raises(RecordTooLargeError):
        log.append_as_leader(b"".join(make_batch([b"x" * 100]) for _ in range(8)), 0)
    assert log.log_end_offset == 0
    log.close()


def test_log_append_time_stamps_batches_with_a_valid_crc(tmp_path: Path) -> None:
    clock = Clock(BASE_TS + 10**6)
    log = Log(str(tmp_path / "t-0"), LogConfig(message_timestamp_type="LogAppendTime"), clock=clock)
    info = log.append_as_leader(make_batch([b"a", b"b"]), 0)
    assert info.log_append_time == info.max_timestamp == clock.now
    stored = native.scan_batches(read_all(log)).batches[0]  # CRC checked by the scan
    assert stored.attributes & 0x08 and stored.max_timestamp == clock.now
    log.close()


def test_follower_append_keeps_offsets_and_epochs(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader")
    for epoch in (1, 1, 3):
        leader.append_as_leader(make_batch([b"a", b"b"]), epoch)
    follower = open_log(tmp_path / "follower")
    info = follower.append_as_follower(read_all(leader))
    assert (info.first_offset, info.last_offset) == (0, 5)
    assert follower.epochs.entries == leader.epochs.entries == [(1, 0), (3, 4)]
    with pytest.raises(InvalidRecordsError, match="non_monotonic_offsets"):
        follower.append_as_follower(read_all(leader, 4))
    assert follower.end_offset_for_epoch(1) == (1, 4)
    assert follower.end_offset_for_epoch(2) == (1, 4)
    assert follower.end_offset_for_epoch(3) == (3, 6)
    assert follower.end_offset_for_epoch(0) == (-1, -1)
    leader.close()
    follower.close()


def test_stale_leader_epoch_is_refused(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append_as_leader(make_batch([b"a"]), 5)
    with pytest.raises(StorageError, match="older"):
        log.append_as_leader(make_batch([b"a"]), 4)
    log.close()


# -- read ------------------------------------------------------------------------------


def test_read_returns_whole_batches_within_bounds(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    batches = small_batches(20)
    for batch in batches:
        log.append_as_leader(batch, 0)
    size = len(batches[0])
    assert log.read(5, size * 3).length == size * 3  # from the batch holding 5 (4..5)
    assert log.read(5, size * 3).first_offset == 4
    assert log.read(5, size * 3 - 1).length == size * 2
    assert log.read(5, 1).length == size  # one whole batch even when larger than max_bytes
    assert log.read(5, 1, min_one_batch=False).length == 0
    assert log.read(5, 10**6, max_offset=10).length == size * 3  # batches 4, 6, 8
    assert log.read(5, 10**6, max_offset=5).length == 0
    assert log.read(40, 100).length == 0  # at the log end: nothing yet
    with pytest.raises(OffsetOutOfRangeError):
        log.read(41, 100)
    log.delete_records(7)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(6, 100)
    assert log.read(7, 1).first_offset == 6
    log.close()


def test_read_result_is_sendable_without_a_copy(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for batch in small_batches(10):
        log.append_as_leader(batch, 0)
    result = log.read(0, 10**6)
    expected = result.to_bytes()
    out_path = tmp_path / "out"
    with open(out_path, "wb") as out:
        sent = 0
        while sent < result.length:
            sent += result.send_to(out.fileno(), sent)
    assert out_path.read_bytes() == expected
    buffer = bytearray(result.length)
    assert result.readinto(buffer) == result.length and bytes(buffer) == expected
    log.roll()  # later rolls and retention do not invalidate an earlier result
    log.append_as_leader(make_batch([b"z"]), 0)
    log.delete_records(log.log_end_offset)
    log.delete_old_segments(BASE_TS)
    assert result.to_bytes() == expected
    log.close()


def _spanned(data: bytes) -> int:
    infos = native.scan_batches(data).batches
    return infos[-1].base_offset + infos[-1].last_offset_delta + 1 - infos[0].base_offset


@pytest.mark.parametrize("segment_bytes", [10**6, 1500])
def test_read_knows_the_offset_after_its_last_batch(tmp_path: Path, segment_bytes: int) -> None:
    """Every read of whole batches says where the next one starts, whatever cut it short
    (max_bytes between or inside index entries, the high watermark, a segment's end), so
    a file slice can be counted without reading it."""
    log = open_log(tmp_path, segment_bytes=segment_bytes)
    sizes = [1, 3, 1, 7, 2, 1, 5, 1, 1, 4, 2, 6, 1, 3]
    for i, n in enumerate(sizes * 3):
        log.append_as_leader(make_batch([bytes([i % 251]) * (10 + 13 * n)] * n), 0)
    end = log.log_end_offset
    checked = 0
    for offset in range(0, end, 3):
        for max_bytes in (1, 90, 250, 333, 600, 10**6):
            for bound in (None, min(end, offset + 9)):
                result = log.read(offset, max_bytes, max_offset=bound)
                if not result.length:
                    continue
                assert result.next_offset is not None
                assert result.next_offset - result.first_offset == _spanned(result.to_bytes())
                checked += 1
    assert checked > 100
    log.close()


def test_a_detached_slice_outlives_the_log(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for batch in small_batches(10):
        log.append_as_leader(batch, 0)
    result = log.read(2, 10**6)
    piece = result.detached()
    assert len(piece) == result.length and piece.offsets == result.next_offset - 2
    expected = result.to_bytes()
    log.delete()  # closes every segment descriptor and removes the files
    for _ in range(5):  # descriptors opened now may reuse the segment's numbers
        (tmp_path / "other").write_bytes(b"x" * 4096)
    assert piece.to_bytes() == expected
    piece.close()
    piece.close()
    assert piece.fd == -1


# -- rolling ---------------------------------------------------------------------------


def test_roll_on_segment_bytes(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes=500)
    batches = small_batches(12)
    for batch in batches:
        log.append_as_leader(batch, 0)
    per_segment = 500 // len(batches[0])
    assert len(log.segments) == -(-12 // per_segment)
    assert all(s.size <= 500 for s in log.segments)
    names = sorted(p.name for p in (tmp_path / "t-0").glob("*.log"))
    assert names == [f"{s.base_offset:020d}.log" for s in log.segments]
    log.close()


def test_roll_on_segment_ms_measured_from_the_first_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_ms=1000)
    log.append_as_leader(make_batch([b"a"], base_ts=BASE_TS), 0)
    log.append_as_leader(make_batch([b"a"], base_ts=BASE_TS + 1000), 0)
    assert len(log.segments) == 1
    log.append_as_leader(make_batch([b"a"], base_ts=BASE_TS + 1001), 0)
    assert [s.base_offset for s in log.segments] == [0, 2]
    log.close()


def test_roll_when_the_index_is_full(tmp_path: Path) -> None:
    log = open_log(tmp_path, index_interval_bytes=0, segment_index_bytes=48)  # 6 / 4 entries
    for batch in small_batches(12):
        log.append_as_leader(batch, 0)
    assert len(log.segments) > 1
    for segment in log.segments[:-1]:
        assert segment.time_index.entries <= 4 and segment.offset_index.entries <= 4
        assert segment.offset_index.file_size == segment.offset_index.entries * 8  # trimmed
    assert log.active_segment.offset_index.file_size == 48  # preallocated
    log.close()


# -- truncation, deletion, retention, timestamps: all across restarts -------------------


def test_truncate_to_drops_batches_epochs_and_later_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes=400)
    for i, batch in enumerate(small_batches(12)):
        log.append_as_leader(batch, i // 4)
    assert log.epochs.entries == [(0, 0), (1, 8), (2, 16)]
    log.truncate_to(10)
    assert log.log_end_offset == 10
    assert headers(log)[-1] == (8, 9)
    assert log.epochs.entries == [(0, 0), (1, 8)]
    assert all(s.base_offset < 10 for s in log.segments)
    log.truncate_to(9)  # inside batch 8..9: the whole batch goes
    assert log.log_end_offset == 8 and log.epochs.entries == [(0, 0)]
    log.append_as_leader(make_batch([b"new"]), 4)
    log.close()
    again = open_log(tmp_path, segment_bytes=400)
    assert again.log_end_offset == 9 and again.epochs.entries == [(0, 0), (4, 8)]
    again.truncate_to(0)
    assert (again.log_start_offset, again.log_end_offset, again.size) == (0, 0, 0)
    again.close()


def test_delete_records_and_log_start_survive_restarts(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes=400)
    for batch in small_batches(12):
        log.append_as_leader(batch, 0)
    assert log.delete_records(11) == 11
    assert log.segments[0].base_offset <= 11 < log.segments[1].base_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records(25)
    log.close()
    again = open_log(tmp_path, segment_bytes=400)
    assert again.log_start_offset == 11
    assert again.read(11, 1).first_offset == 10
    again.abandon()  # a crash: the start offset then comes from the manager's checkpoint
    crashed = Log(str(tmp_path / "t-0"), again.config, log_start_offset=11)
    assert crashed.log_start_offset == 11 and crashed.log_end_offset == 24
    crashed.close()


def test_retention_by_time_and_size_survive_restarts(tmp_path: Path) -> None:
    hour = 3600 * 1000
    log = open_log(tmp_path, segment_bytes=400, retention_ms=hour)
    for i in range(12):
        log.append_as_leader(make_batch([b"x" * 20] * 2, base_ts=BASE_TS + i * 60_000), 0)
    sizes = [(s.base_offset, s.largest_timestamp) for s in log.segments]
    assert len(sizes) >= 3
    log.close()
    log = open_log(tmp_path, segment_bytes=400, retention_ms=hour)
    now = sizes[1][1] + hour + 1  # the first two segments expired; the rest not
    assert log.delete_old_segments(now) == 2
    assert log.log_start_offset == sizes[2][0]
    log.close()
    log = open_log(
        tmp_path, segment_bytes=400, retention_ms=-1, retention_bytes=log.active_segment.size
    )
    assert log.log_start_offset == sizes[2][0]
    log.delete_old_segments(now)
    assert len(log.segments) == 1  # only the active segment is never deleted
    start = log.log_start_offset
    log.close()
    assert open_log(tmp_path).log_start_offset == start


def test_offset_for_timestamp_across_restart(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment_bytes=300)
    for i in range(10):
        log.append_as_leader(
            make_batch([b"a", b"b", b"c"], base_ts=BASE_TS + 100 * i, ts_deltas=[0, 30, 60]), 0
        )
    for reopen in (False, True):
        if reopen:
            log.close()
            log = open_log(tmp_path, segment_bytes=300)
        assert log.offset_for_timestamp(BASE_TS - 1) == (0, BASE_TS)
        assert log.offset_for_timestamp(BASE_TS + 431) == (14, BASE_TS + 460)
        assert log.offset_for_timestamp(BASE_TS + 460) == (14, BASE_TS + 460)
        assert log.offset_for_timestamp(BASE_TS + 961) is None
        assert log.offset_for_timestamp(-2) == (0, -1)
        assert log.offset_for_timestamp(-1) == (30, -1)
        assert log.offset_for_timestamp(-3) == (29, BASE_TS + 960)
    log.close()


def test_max_timestamp_finds_the_record_not_its_batch_end(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append_as_leader(make_batch([b"a", b"b"], base_ts=BASE_TS, ts_deltas=[0, 10]), 0)
    log.append_as_leader(make_batch([b"c", b"d", b"e"], base_ts=BASE_TS, ts_deltas=[5, 90, 30]), 0)
    # offsets 2, 3, 4: the largest timestamp is on offset 3, in the middle of its batch
    assert log.offset_for_timestamp(-3) == (3, BASE_TS + 90)
    log.close()
    assert open_log(tmp_path).offset_for_timestamp(-3) == (3, BASE_TS + 90)


# -- flushing --------------------------------------------------------------------------


def test_flush_in_a_worker_thread_moves_the_recovery_point(tmp_path: Path) -> None:
    clock = Clock()
    log = Log(str(tmp_path / "t-0"), LogConfig(flush_messages=4, flush_ms=1000), clock=clock)
    log.append_as_leader(make_batch([b"a"]), 0)
    assert not log.needs_flush(clock.now) and log.unflushed_messages == 1
    clock.now += 1000
    assert log.needs_flush(clock.now)
    task = log.prepare_flush()
    assert task is not None
    log.append_as_leader(make_batch([b"b", b"c", b"d", b"e"]), 0)  # during the fsync
    worker = threading.Thread(target=task.run)
    worker.start()
    worker.join()
    log.complete_flush(task)
    assert log.recovery_point == 1 and log.needs_flush(clock.now)  # 4 messages pending
    log.flush()
    assert log.recovery_point == log.log_end_offset == 5 and not log.needs_flush(clock.now)
    log.close()


def test_flush_task_survives_truncation_meanwhile(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for batch in small_batches(4):
        log.append_as_leader(batch, 0)
    task = log.prepare_flush()
    assert task is not None
    log.truncate_to(2)
    log.append_as_leader(make_batch([b"x"] * 6), 0)
    task.run()
    log.complete_flush(task)
    assert log.recovery_point <= 2  # the flushed offsets no longer describe this log
    log.close()


def test_a_new_log_writes_its_epoch_checkpoint_only_once_it_has_an_epoch(
    tmp_path: Path,
) -> None:
    checkpoint = tmp_path / "t-0" / "leader-epoch-checkpoint"
    log = open_log(tmp_path)
    assert not checkpoint.exists()
    log.close()
    log = open_log(tmp_path)
    assert log.epochs.entries == [] and not checkpoint.exists()
    log.append_as_leader(make_batch([b"a", b"b"]), 3)
    log.close()
    assert checkpoint.exists()
    log = open_log(tmp_path)
    assert log.epochs.entries == [(3, 0)]
    assert log.log_end_offset == 2
    log.close()
