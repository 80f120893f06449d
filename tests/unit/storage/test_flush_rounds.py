"""What a flush round fsyncs, and recovery when the active segment's indexes were not fsynced."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.storage import Log, LogConfig
from broker.storage.segment import file_name
from unit.storage.storage_helpers import (
    BASE_TS,
    bytes_from_segment_of,
    read_all,
    small_batches,
    snapshot_files,
)

Sync = tuple[str, str]  # ("fsync" | "fdatasync", path) or ("dir", path)


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Sync]]:
    """Every fsync and fdatasync the process makes, with the path of the file or directory."""
    calls: list[Sync] = []

    def counting(kind: str, real: Callable[[int], None]) -> Callable[[int], None]:
        def call(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            calls.append(("dir" if os.path.isdir(path) else kind, path))
            real(fd)

        return call

    monkeypatch.setattr(os, "fsync", counting("fsync", os.fsync))
    monkeypatch.setattr(os, "fdatasync", counting("fdatasync", os.fdatasync))
    yield calls


def run_round(log: Log) -> None:
    """One round as the group commit runs it: prepare on the log's thread, run, complete."""
    task = log.prepare_flush()
    assert task is not None
    task.run()
    log.complete_flush(task)


def test_a_round_without_a_roll_is_one_fdatasync_of_the_active_log(
    tmp_path: Path, syncs: list[Sync]
) -> None:
    log = Log(str(tmp_path / "t-0"), LogConfig(index_interval_bytes=100))
    batches = small_batches(30)
    log.append_as_leader(batches[0], 0)
    run_round(log)  # the first round after opening also makes the new files' names durable
    assert ("dir", log.directory) in syncs
    files = set(os.listdir(log.directory))
    for batch in batches[1:]:
        syncs.clear()
        log.append_as_leader(batch, 0)
        run_round(log)
        assert syncs == [("fdatasync", log.active_segment.log_path)]
        assert log.recovery_point == log.log_end_offset
    assert log.active_segment.offset_index.entries > 3  # index pages were dirtied meanwhile
    assert set(os.listdir(log.directory)) == files  # no snapshot per round
    syncs.clear()
    assert log.prepare_flush() is None  # nothing appended: no round at all
    log.close()


def test_the_round_after_a_roll_syncs_the_rolled_segment_its_snapshot_and_the_directory(
    tmp_path: Path, syncs: list[Sync]
) -> None:
    log = Log(str(tmp_path / "t-0"), LogConfig(segment_bytes=1000, index_interval_bytes=100))
    batches = iter(small_batches(40))
    log.append_as_leader(next(batches), 0)
    run_round(log)
    rolled = log.active_segment
    while len(log.segments) == 1:
        syncs.clear()
        log.append_as_leader(next(batches), 0)
        if len(log.segments) == 1:
            run_round(log)
    syncs.clear()
    run_round(log)
    active = log.active_segment
    snapshot = log.producers.snapshot_path(active.base_offset)
    assert os.path.exists(snapshot)
    assert sorted(syncs) == sorted(
        [
            ("fsync", rolled.log_path),
            ("fsync", rolled.offset_index.path),
            ("fsync", rolled.time_index.path),
            ("fdatasync", active.log_path),
            ("fsync", snapshot),
            ("dir", log.directory),
        ]
    )
    assert syncs[-1] == ("dir", log.directory)  # after the files it names
    syncs.clear()
    log.append_as_leader(next(batches), 0)
    run_round(log)
    assert syncs == [("fdatasync", active.log_path)]
    log.close()


def test_a_failed_round_leaves_the_roll_for_the_next_one(
    tmp_path: Path, syncs: list[Sync], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Log(str(tmp_path / "t-0"), LogConfig(segment_bytes=1000, index_interval_bytes=100))
    batches = iter(small_batches(40))
    while len(log.segments) == 1:
        log.append_as_leader(next(batches), 0)
    rolled = log.segments[0]
    task = log.prepare_flush()
    assert task is not None
    counting = os.fsync

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError):
        task.run()
    monkeypatch.setattr(os, "fsync", counting)
    assert log.recovery_point == 0
    syncs.clear()
    run_round(log)
    assert ("fsync", rolled.offset_index.path) in syncs
    assert ("dir", log.directory) in syncs
    assert log.recovery_point == log.log_end_offset
    log.close()


# -- a crash that loses the active segment's index pages ------------------------------------

CONFIG = LogConfig(segment_bytes=120_000, index_interval_bytes=0, segment_index_bytes=16_384)
BATCHES = 1700  # two segments: the active one holds > 4096 bytes of both indexes


def _zero_first_page(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(bytes(min(4096, path.stat().st_size)))


INDEX_DAMAGES: dict[str, Callable[[Path], None]] = {
    "zeroed": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    "truncated": lambda p: os.truncate(p, 0),
    "half": lambda p: os.truncate(p, p.stat().st_size // 2),
    "first-page-lost": _zero_first_page,
}


@pytest.fixture(scope="module")
def unflushed_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, bytes]]:
    """A crashed log whose recovery point lies inside the active segment (data on both sides),
    and the files of the same log closed cleanly."""
    root = tmp_path_factory.mktemp("index")
    batches = small_batches(BATCHES)
    log = Log(str(root / "t-0"), CONFIG)
    for i, batch in enumerate(batches):
        log.append_as_leader(batch, 0)
        if i == BATCHES - 40:
            log.flush()
    point = log.recovery_point
    assert len(log.segments) == 2 and log.active_segment.base_offset < point
    assert log.active_segment.offset_index.entries * 8 > 4096
    assert log.active_segment.time_index.entries * 12 > 4096
    log.abandon()
    reference = Log(str(root / "ref-0"), CONFIG)
    for batch in batches:
        reference.append_as_leader(batch, 0)
    whole = read_all(reference)
    reference.close()
    files = {n: b for n, b in snapshot_files(str(root / "ref-0")).items() if "index" in n}
    files["log"] = whole
    return root / "t-0", point, files


@pytest.mark.parametrize("damage", sorted(INDEX_DAMAGES))
def test_lost_active_index_pages_are_rebuilt_from_the_segment_start(
    unflushed_index: tuple[Path, int, dict[str, bytes]], tmp_path: Path, damage: str
) -> None:
    source, point, files = unflushed_index
    reference = dict(files)
    target = tmp_path / "t-0"
    shutil.copytree(source, target)
    active_base = max(int(p.name[:20]) for p in target.glob("*.log"))
    for ext in (".index", ".timeindex"):
        INDEX_DAMAGES[damage](target / file_name(active_base, ext))
    log = Log(str(target), CONFIG, recovery_point=point)
    assert log.log_end_offset == 2 * BATCHES
    assert log.recovery.stats.scanned == bytes_from_segment_of(str(target), point)
    assert log.recovery.dropped_bytes == 0
    assert read_all(log) == reference.pop("log")
    for offset in range(0, log.log_end_offset, 13):
        data = log.read(offset, 1).to_bytes()  # the one batch holding ``offset``
        assert int.from_bytes(data[:8], "big") == offset - offset % 2
        # small_batches: two records per batch, record n stamped BASE_TS + n
        assert log.offset_for_timestamp(BASE_TS + offset) == (offset, BASE_TS + offset)
    log.close()
    rebuilt = {n: b for n, b in snapshot_files(str(target)).items() if "index" in n}
    assert rebuilt == reference
