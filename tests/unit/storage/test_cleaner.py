"""Log compaction on real files: the last record per key survives, offsets and data intact."""

from __future__ import annotations

import os

from client.records import build_batch, decode_batches

from broker.storage.cleaner import Cleaner
from broker.storage.config import LogConfig
from broker.storage.log import Log

NOW = 1_700_000_000_000
DAY = 24 * 3600 * 1000


def compacted_log(path, **overrides) -> Log:
    config = LogConfig(cleanup_policy="compact", segment_bytes=600, **overrides)
    return Log(str(path), config, clock=lambda: NOW)


def append(log: Log, keys: list[bytes | None], values: list[bytes | None], ts: int = NOW) -> None:
    batch = bytearray(build_batch(values, keys, timestamps=[ts] * len(values)))
    log.append_as_leader(batch, 0)


def all_records(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        result = log.read(offset, 1 << 20)
        if not len(result):
            break
        batches = decode_batches(result.to_bytes())
        out += [(r.offset, r.key, r.value) for b in batches for r in b.records]
        offset = batches[-1].last_offset + 1
    return out


def clean(log: Log, cleaner: Cleaner | None = None, now: int = NOW) -> bool:
    cleaner = cleaner or Cleaner()
    job = cleaner.prepare(log)
    if job is None:
        return False
    job.run(now)
    return cleaner.finish(job)


def expected_after_clean(records, rolled_end: int):
    """The model: rolled part keeps the last record per key; the active part keeps all."""
    last = {}
    for offset, key, _ in records:
        last[key] = offset
    return [r for r in records if r[0] >= rolled_end or last[r[1]] == r[0]]


def test_keeps_the_last_record_of_each_key(tmp_path):
    log = compacted_log(tmp_path / "t-0")
    for round_ in range(60):
        append(log, [b"k%d" % (i % 7) for i in range(10)],
               [b"r%d-%d" % (round_, i) for i in range(10)])  # fmt: skip
    assert len(log.segments) > 3
    before = all_records(log)
    rolled_end = log.segments[-1].base_offset
    size_before = log.size
    assert clean(log)
    after = all_records(log)
    assert after == expected_after_clean(before, rolled_end)
    assert log.size < size_before / 4
    assert log.log_end_offset == 600  # offsets are kept, the end does not move
    for offset, key, value in after:  # a read from any offset still finds its record
        batch = decode_batches(log.read(offset, 1).to_bytes())[0]
        found = [r for r in batch.records if r.offset == offset]
        assert [(r.key, r.value) for r in found] == [(key, value)]


def test_clean_survives_clean_and_crash_restarts(tmp_path):
    log = compacted_log(tmp_path / "t-0")
    for round_ in range(30):
        append(log, [b"a", b"b", b"c"], [b"%d" % round_] * 3)
    assert clean(log)
    expected = all_records(log)
    log.close()
    log = compacted_log(tmp_path / "t-0")
    assert all_records(log) == expected
    log.abandon()  # what a crash leaves
    log = compacted_log(tmp_path / "t-0")
    assert all_records(log) == expected
    append(log, [b"a"], [b"new"])
    assert all_records(log)[-1][1:] == (b"a", b"new")


def test_old_tombstones_go_and_young_ones_stay(tmp_path):
    log = compacted_log(tmp_path / "t-0", delete_retention_ms=DAY)
    append(log, [b"old", b"young", b"kept"], [b"1", b"1", b"1"], ts=NOW - 3 * DAY)
    append(log, [b"old"], [None], ts=NOW - 2 * DAY)
    append(log, [b"young"], [None], ts=NOW - 1000)
    for i in range(60):  # roll the tombstones into rolled segments
        append(log, [b"filler%d" % i], [b"x" * 100])
    assert clean(log)
    keys = {key: value for _, key, value in all_records(log)}
    assert "old" not in {k.decode() for k in keys}
    assert keys[b"young"] is None
    assert keys[b"kept"] == b"1"


def test_nothing_new_to_clean_is_not_cleaned_again(tmp_path):
    log = compacted_log(tmp_path / "t-0")
    cleaner = Cleaner()
    for round_ in range(30):
        append(log, [b"a", b"b"], [b"%d" % round_] * 2)
    assert clean(log, cleaner)
    assert cleaner.prepare(log) is None
    for round_ in range(30):
        append(log, [b"a", b"b"], [b"again%d" % round_] * 2)
    assert cleaner.prepare(log) is not None


def test_a_segment_removed_meanwhile_cancels_the_swap(tmp_path):
    log = compacted_log(tmp_path / "t-0")
    for round_ in range(30):
        append(log, [b"a", b"b"], [b"%d" % round_] * 2)
    cleaner = Cleaner()
    job = cleaner.prepare(log)
    job.run(NOW)
    log.delete_records(log.segments[1].base_offset)  # deletes the first rolled segment
    before = all_records(log)
    assert not cleaner.finish(job)
    assert all_records(log) == before
    assert not [name for name in os.listdir(log.directory) if ".cleaned" in name]


def test_delete_policy_logs_are_not_cleaned(tmp_path):
    log = Log(str(tmp_path / "t-0"), LogConfig(segment_bytes=4096), clock=lambda: NOW)
    for round_ in range(30):
        append(log, [b"a", b"b"], [b"%d" % round_] * 2)
    assert Cleaner().prepare(log) is None
