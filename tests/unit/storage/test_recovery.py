"""Crash recovery on real files: torn tails, garbage, flipped bytes, lost indexes, checkpoints."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import native

from broker.storage import Log, LogConfig
from broker.storage.segment import file_name
from unit.storage.storage_helpers import (
    bytes_from_segment_of,
    make_batch,
    read_all,
    small_batches,
    snapshot_files,
)

CONFIG = LogConfig(segment_bytes=1500, index_interval_bytes=150, segment_index_bytes=1200)
SEGMENT_EXTS = (".log", ".index", ".timeindex")
Crashed = tuple[Path, list[bytes], dict[int, dict[str, bytes]]]
Clean = tuple[Path, dict[str, bytes]]


def build(directory: Path, batches: list[bytes], *, epoch: int = 2, close: bool = True) -> Log:
    log = Log(str(directory), CONFIG)
    for batch in batches:
        log.append_as_leader(batch, epoch)
    if close:
        log.close()
    return log


def segment_files(directory: Path) -> dict[str, bytes]:
    return {n: b for n, b in snapshot_files(str(directory)).items() if n.endswith(SEGMENT_EXTS)}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    """A log of small batches over several segments left as a crash leaves it, plus the
    segment files of cleanly closed logs holding every batch, all but the last, all but two."""
    root = tmp_path_factory.mktemp("crash")
    batches = small_batches(38)  # three segments, the last two batches in the active one
    log = build(root / "t-0", batches, close=False)
    log.abandon()
    references = {}
    for keep in (len(batches), len(batches) - 1, len(batches) - 2):
        build(root / f"ref{keep}-0", batches[:keep])
        references[keep] = segment_files(root / f"ref{keep}-0")
    return root / "t-0", batches, references


def active_log_path(directory: Path) -> Path:
    return max(directory.glob("*.log"))


def recover_copy(source: Path, target: Path, damage: Callable[[Path], None]) -> Log:
    shutil.copytree(source, target)
    damage(active_log_path(target))
    return Log(str(target), CONFIG)


def expect_prefix(log: Log, batches: list[bytes], keep: int, reference: dict[str, bytes]) -> None:
    """The log holds exactly the first ``keep`` batches, and its files match a clean build."""
    assert log.log_end_offset == 2 * keep
    assert len(list(Path(log.directory).glob("*.log"))) == 3
    assert read_all(log) == _patched(batches[:keep])
    directory = Path(log.directory)
    log.close()
    assert segment_files(directory) == reference


def _patched(batches: list[bytes]) -> bytes:
    """The batches as the log stores them: baseOffset and epoch 2 patched in."""
    out = bytearray()
    offset = 0
    for batch in batches:
        patched = bytearray(batch)
        patched[0:8] = offset.to_bytes(8, "big")
        patched[12:16] = (2).to_bytes(4, "big")
        out += patched
        offset += 2
    return bytes(out)


def test_every_cut_in_the_last_two_batches_recovers_the_last_whole_batch(
    crashed: Crashed, tmp_path: Path
) -> None:
    source, batches, references = crashed
    size = active_log_path(source).stat().st_size
    last_two = len(batches[-1]) + len(batches[-2])
    for cut in range(size - last_two, size):
        keep = len(batches) - (2 if cut < size - len(batches[-1]) else 1)

        def damage(path: Path, cut: int = cut) -> None:
            os.truncate(path, cut)

        log = recover_copy(source, tmp_path / f"cut{cut}-0", damage)
        assert not log.recovery.clean
        assert log.recovery.dropped_bytes == cut - (size - last_two) - (
            0 if keep == len(batches) - 2 else len(batches[-2])
        )
        expect_prefix(log, batches, keep, references[keep])


@pytest.mark.parametrize("kind", ["zeros", "random"])
def test_garbage_after_the_last_batch_is_dropped(
    crashed: Crashed, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    source, batches, references = crashed
    tail = bytes(4096) if kind == "zeros" else os.urandom(4096)

    def damage(path: Path) -> None:
        with open(path, "ab") as f:
            f.write(tail)

    log = recover_copy(source, tmp_path / "g-0", damage)
    assert log.recovery.dropped_bytes == 4096
    (line,) = [r.getMessage() for r in caplog.records if "recovery dropped" in r.getMessage()]
    assert f"dropped 4096 bytes, offsets from {2 * len(batches)} on" in line
    expect_prefix(log, batches, len(batches), references[len(batches)])


def test_every_flipped_byte_of_the_last_batch_is_detected(crashed: Crashed, tmp_path: Path) -> None:
    source, batches, references = crashed
    size = active_log_path(source).stat().st_size
    last = len(batches[-1])
    for at in range(size - last, size):

        def damage(path: Path, at: int = at) -> None:
            with open(path, "r+b") as f:
                f.seek(at)
                byte = f.read(1)[0]
                f.seek(at)
                f.write(bytes([byte ^ 0xFF]))

        log = recover_copy(source, tmp_path / f"flip{at}-0", damage)
        assert log.recovery.error, f"flip at {at} went unnoticed"
        expect_prefix(log, batches, len(batches) - 1, references[len(batches) - 1])


def test_cut_inside_an_earlier_segment_drops_the_later_segments(
    crashed: Crashed, tmp_path: Path
) -> None:
    source, batches, references = crashed
    target = tmp_path / "early-0"
    shutil.copytree(source, target)
    first = min(target.glob("*.log"))
    os.truncate(first, first.stat().st_size - 1)
    log = Log(str(target), CONFIG)
    assert len(log.segments) == 1
    assert log.recovery.dropped_segments == len(list(source.glob("*.log"))) - 1
    keep = log.log_end_offset // 2
    assert read_all(log) == _patched(batches[:keep])
    log.close()


# -- lost or damaged indexes and checkpoints are rebuilt identically --------------------

DAMAGES = {
    "delete": lambda p: p.unlink(),
    "truncate-half": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncate-odd": lambda p: os.truncate(p, max(0, p.stat().st_size - 3)),
    "zero": lambda p: p.write_bytes(bytes(p.stat().st_size)),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Clean:
    root = tmp_path_factory.mktemp("clean")
    batches = small_batches(40)
    log = Log(str(root / "t-0"), CONFIG)
    for i, batch in enumerate(batches):
        log.append_as_leader(batch, i // 10)
    log.close()
    return root / "t-0", snapshot_files(str(root / "t-0"))


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize(
    "which",
    [
        "first.index",
        "first.timeindex",
        "active.index",
        "active.timeindex",
        "leader-epoch-checkpoint",
        "snapshot",
    ],
)
def test_damaged_file_is_rebuilt_identically(
    clean: Clean, tmp_path: Path, which: str, damage: str
) -> None:
    source, original = clean
    target = tmp_path / "t-0"
    shutil.copytree(source, target)
    bases = sorted(p.name[:20] for p in target.glob("*.log"))
    if which == "leader-epoch-checkpoint":
        path = target / which
    elif which == "snapshot":
        path = max(target.glob("*.snapshot"))
    else:
        where, ext = which.split(".")
        path = target / f"{bases[0] if where == 'first' else bases[-1]}.{ext}"
    DAMAGES[damage](path)
    log = Log(str(target), CONFIG)
    end = log.log_end_offset
    producers = dict(log.producers.producers)
    log.close()
    assert end == 80
    assert producers == {}
    assert snapshot_files(str(target)) == original


def test_lost_recovery_point_scans_everything_and_rebuilds_identically(
    clean: Clean, tmp_path: Path
) -> None:
    source, original = clean
    target = tmp_path / "t-0"
    shutil.copytree(source, target)
    (target / "clean-shutdown").unlink()
    log = Log(str(target), CONFIG, recovery_point=None)
    assert log.recovery.stats.scanned == sum(p.stat().st_size for p in target.glob("*.log"))
    log.close()
    assert segment_files(target) == {k: v for k, v in original.items() if k.endswith(SEGMENT_EXTS)}


# -- recovery reads only the segment holding the recovery point and later ones ----------


def test_crash_reads_only_from_the_segment_holding_the_recovery_point(tmp_path: Path) -> None:
    config = LogConfig(index_interval_bytes=150, segment_bytes=4000)
    directory = str(tmp_path / "t-0")
    log = Log(directory, config)
    for batch in small_batches(200):
        log.append_as_leader(batch, 0)
    log.flush()
    point = log.recovery_point
    flushed_size = log.size
    tail = small_batches(7)
    for batch in tail:
        log.append_as_leader(batch, 0)
    segments = len(log.segments)
    log.abandon()
    assert segments > 3
    expected = bytes_from_segment_of(directory, point)
    again = Log(directory, config, recovery_point=point)
    assert again.recovery.stats.scanned == expected
    assert expected < flushed_size  # the earlier segments were not read
    assert expected >= sum(map(len, tail))
    assert again.recovery.stats.headers == 0  # producer state: the roll's snapshot, no replay
    assert again.log_end_offset == point + 14
    assert again.size == flushed_size + sum(map(len, tail))
    again.close()
    clean = Log(directory, config)
    assert clean.recovery.clean and clean.recovery.stats.scanned == 0
    clean.close()


def test_interrupted_swap_is_completed(tmp_path: Path) -> None:
    """Hand-made: segments 0 and 10 were being replaced by a cleaned segment at 0 (.swap)."""
    directory = tmp_path / "t-0"
    batches = small_batches(12)
    log = Log(str(directory), CONFIG)
    for i, batch in enumerate(batches):
        if i in (5, 10):
            log.roll()
        log.append_as_leader(batch, 0)
    log.close()
    assert [s[:20] for s in sorted(os.listdir(directory)) if s.endswith(".log")] == [
        file_name(0, "")[:20],
        file_name(10, "")[:20],
        file_name(20, "")[:20],
    ]
    # the cleaner's output: batches of offsets 0..19 minus a few, written as a .swap log
    kept = bytearray()
    for offset in (0, 4, 8, 14, 18):
        patched = bytearray(make_batch([b"k%d" % offset, b"v"], ts_deltas=[0, 1]))
        patched[0:8] = offset.to_bytes(8, "big")
        patched[12:16] = (0).to_bytes(4, "big", signed=True)
        kept += patched
    (directory / (file_name(0, ".log") + ".swap")).write_bytes(bytes(kept))
    (directory / (file_name(0, ".index") + ".swap")).write_bytes(b"")
    (directory / "clean-shutdown").unlink()
    (directory / (file_name(10, ".log") + ".deleted")).write_bytes(b"left over")
    compacted = Log(
        str(directory),
        LogConfig(cleanup_policy="compact", segment_index_bytes=1200, index_interval_bytes=150),
    )
    names = sorted(os.listdir(directory))
    assert not [n for n in names if n.endswith((".swap", ".deleted"))]
    assert [s.base_offset for s in compacted.segments] == [0, 20]
    assert compacted.log_end_offset == 24
    got = [info.base_offset for info in compacted.batches()]
    assert got == [0, 4, 8, 14, 18, 20, 22]
    assert compacted.read(5, 10**6).first_offset == 4  # batch 4 holds offsets 4 and 5
    assert compacted.read(6, 10**6).first_offset == 8  # 6 and 7 were cleaned away
    compacted.close()


def test_interrupted_clean_without_swap_is_discarded(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = build(directory, small_batches(10))
    (directory / (file_name(0, ".log") + ".cleaned")).write_bytes(b"half written")
    again = Log(str(directory), CONFIG)
    assert again.recovery.clean and again.log_end_offset == 20
    assert not list(directory.glob("*.cleaned"))
    again.close()
    del log


def test_replace_segments_swaps_atomically_and_survives_restart(tmp_path: Path) -> None:
    config = LogConfig(cleanup_policy="compact", index_interval_bytes=150)
    directory = tmp_path / "t-0"
    log = Log(str(directory), config)
    for i, batch in enumerate(small_batches(12)):
        if i in (5, 10):
            log.roll()
        log.append_as_leader(batch, 0)
    old = log.segments[:2]
    kept = [info for info in log.batches(0, 20) if info.base_offset % 4 == 0]
    data = b"".join(
        segment.read_bytes(info.position, info.size)
        for info in kept
        for segment in old
        if segment.base_offset <= info.base_offset < segment.next_offset
    )
    cleaned = log.new_cleaned_segment(0)
    cleaned.append(memoryview(data), native.scan_batches(data).batches)
    assert (directory / (file_name(0, ".log") + ".cleaned")).exists()
    log.replace_segments(cleaned, old)
    assert [s.base_offset for s in log.segments] == [0, 20]
    assert [i.base_offset for i in log.batches()] == [0, 4, 8, 12, 16, 20, 22]
    assert read_all(log)[: len(data)] == data
    log.purge_deleted()
    assert sorted(n for n in os.listdir(directory) if n.endswith(".log")) == [
        file_name(0, ".log"),
        file_name(20, ".log"),
    ]
    log.close()
    again = Log(str(directory), config)
    assert again.recovery.clean
    assert [i.base_offset for i in again.batches()] == [0, 4, 8, 12, 16, 20, 22]
    assert again.read(6, 1 << 20).first_offset == 8
    again.close()


def test_a_segment_rolled_right_after_the_last_round_gets_its_indexes_rebuilt(
    tmp_path: Path,
) -> None:
    # The round that set the recovery point ran just before the roll, so no round fsynced
    # the rolled segment's indexes. A crash may leave them empty, which Kafka's sanity check
    # accepts; recovery has to read that segment again instead of trusting them.
    config = LogConfig(index_interval_bytes=150, segment_bytes=1_000_000)
    directory = tmp_path / "t-0"
    log = Log(str(directory), config)
    batches = small_batches(30)
    for batch in batches[:27]:
        log.append_as_leader(batch, 0)
    log.flush()
    point = log.recovery_point
    rolled = log.active_segment
    entries = rolled.offset_index.entries
    assert entries > 3
    assert log.roll().base_offset == point
    for batch in batches[27:]:
        log.append_as_leader(batch, 0)
    stored = read_all(log)
    log.abandon()
    for ext in (".index", ".timeindex"):
        os.truncate(directory / file_name(rolled.base_offset, ext), 0)

    again = Log(str(directory), config, recovery_point=point)
    assert again.segments[0].offset_index.entries == entries
    assert again.recovery.stats.scanned == sum(map(len, batches))
    assert read_all(again) == stored
    again.close()
