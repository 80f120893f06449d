"""The log manager: partitions over several log dirs, Kafka's checkpoint files, timers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.storage import LogConfig, LogManager, StorageError
from broker.storage.checkpoints import read_offset_checkpoint, write_offset_checkpoint
from unit.storage.storage_helpers import (
    BASE_TS,
    bytes_from_segment_of,
    make_batch,
    small_batches,
)


class Clock:
    def __init__(self) -> None:
        self.now = BASE_TS

    def __call__(self) -> int:
        return self.now


def dirs(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "a"), str(tmp_path / "b")]


def fill(manager: LogManager, topic: str, partitions: int, batches: int = 5) -> None:
    for p in range(partitions):
        log = manager.get_or_create_log(topic, p)
        for batch in small_batches(batches):
            log.append_as_leader(batch, 0)


def test_partitions_spread_and_checkpoints_in_kafka_format(tmp_path: Path) -> None:
    manager = LogManager(dirs(tmp_path), LogConfig(), Clock(), broker_id=3, cluster_id="c1")
    fill(manager, "orders", 4)
    manager.get_log("orders", 1).delete_records(4)
    manager.get_log("orders", 2).high_watermark = 7
    assert len(os.listdir(tmp_path / "a")) == len(os.listdir(tmp_path / "b")) == 3  # 2 + meta
    manager.close()
    text = (tmp_path / "a" / "recovery-point-offset-checkpoint").read_text()
    lines = text.splitlines()
    assert lines[0] == "0" and lines[1] == "2" and all(len(line.split()) == 3 for line in lines[2:])
    starts = {
        **read_offset_checkpoint(tmp_path / "a" / "log-start-offset-checkpoint"),
        **read_offset_checkpoint(tmp_path / "b" / "log-start-offset-checkpoint"),
    }
    assert starts[("orders", 1)] == 4 and starts[("orders", 0)] == 0
    marks = {
        **read_offset_checkpoint(tmp_path / "a" / "replication-offset-checkpoint"),
        **read_offset_checkpoint(tmp_path / "b" / "replication-offset-checkpoint"),
    }
    assert marks[("orders", 2)] == 7
    meta = (tmp_path / "a" / "meta.properties").read_text()
    assert "broker.id=3" in meta and "cluster.id=c1" in meta
    again = LogManager(dirs(tmp_path), LogConfig(), Clock(), broker_id=3)
    assert sorted(again.partitions()) == [("orders", p) for p in range(4)]
    assert again.cluster_id == "c1"
    assert again.get_log("orders", 1).log_start_offset == 4
    assert again.get_log("orders", 2).high_watermark == 7
    assert all(log.recovery.clean for log in again.all_logs())
    again.close()
    with pytest.raises(StorageError, match="broker.id"):
        LogManager(dirs(tmp_path), LogConfig(), Clock(), broker_id=4)


def test_crash_recovers_from_the_checkpointed_recovery_point(tmp_path: Path) -> None:
    clock = Clock()
    manager = LogManager(dirs(tmp_path), LogConfig(flush_ms=1000, segment_bytes=1000), clock)
    fill(manager, "t", 2, batches=20)
    clock.now += 1000
    assert len(manager.logs_due_for_flush(clock.now)) == 2
    assert manager.flush_due(clock.now) == 2
    assert manager.logs_due_for_flush(clock.now) == []
    manager.checkpoint()
    points = {p: manager.get_log("t", p).recovery_point for p in (0, 1)}
    tail = small_batches(3)
    for batch in tail:
        manager.get_log("t", 0).append_as_leader(batch, 0)
    directories = {p: manager.get_log("t", p).directory for p in (0, 1)}
    sizes = {p: manager.get_log("t", p).size for p in (0, 1)}
    manager.abandon()
    # Only the segment holding the checkpointed recovery point (and any later one) is read.
    expected = {p: bytes_from_segment_of(directories[p], points[p]) for p in (0, 1)}
    again = LogManager(dirs(tmp_path), LogConfig(), clock)
    for p in (0, 1):
        log = again.get_log("t", p)
        assert not log.recovery.clean
        assert len(log.segments) > 2
        assert log.recovery.stats.scanned == expected[p] < sizes[p]
    recovered = again.get_log("t", 0)
    assert recovered.recovery.stats.scanned >= sum(map(len, tail))
    assert recovered.log_end_offset == 46
    again.close()


def test_corrupt_recovery_checkpoint_means_a_full_scan(tmp_path: Path) -> None:
    manager = LogManager(dirs(tmp_path)[:1], LogConfig(), Clock())
    fill(manager, "t", 1, batches=10)
    manager.flush_all()
    manager.checkpoint()
    size = manager.get_log("t", 0).size
    manager.abandon()
    (tmp_path / "a" / "recovery-point-offset-checkpoint").write_bytes(b"\x00" * 30)
    again = LogManager(dirs(tmp_path)[:1], LogConfig(), Clock())
    log = again.get_log("t", 0)
    assert log.recovery.stats.scanned == size and log.log_end_offset == 20
    again.close()


def test_retention_and_deletion_on_the_broker_clock(tmp_path: Path) -> None:
    clock = Clock()
    config = LogConfig(segment_bytes=400, retention_ms=60_000, file_delete_delay_ms=5_000)
    manager = LogManager(dirs(tmp_path), config, clock)
    log = manager.get_or_create_log("t", 0)
    for i in range(12):
        log.append_as_leader(make_batch([b"x" * 20] * 2, base_ts=BASE_TS + i), 0)
    segments = len(log.segments)
    clock.now = BASE_TS + 12 + 60_001
    assert manager.run_retention(clock.now) == segments - 1
    assert list((tmp_path / "a" / "t-0").glob("*.deleted"))  # kept for readers a while
    manager.run_retention(clock.now + 5_000)
    assert not list((tmp_path / "a" / "t-0").glob("*.deleted"))
    manager.delete_log("t", 0)
    assert manager.get_log("t", 0) is None
    gone = [n for n in os.listdir(tmp_path / "a") if n.endswith("-delete")]
    assert len(gone) == 1 and gone[0].startswith("t-0.")
    manager.run_retention(clock.now + 10_000)
    assert not [n for n in os.listdir(tmp_path / "a") if n.endswith("-delete")]
    manager.close()
    again = LogManager(dirs(tmp_path), config, clock)
    assert again.partitions() == []
    again.close()


def test_topic_config_applies_to_new_and_existing_partitions(tmp_path: Path) -> None:
    manager = LogManager(dirs(tmp_path), LogConfig(), Clock())
    log = manager.get_or_create_log("t", 0, LogConfig(segment_bytes=300))
    for batch in small_batches(6):
        log.append_as_leader(batch, 0)
    assert len(log.segments) > 1
    manager.set_topic_config("t", LogConfig(retention_bytes=0))
    assert log.config.retention_bytes == 0
    manager.run_retention(BASE_TS)
    assert len(log.segments) == 1
    manager.close()


def test_log_config_from_kafka_properties() -> None:
    config = LogConfig.from_properties(
        {
            "segment.bytes": "1048576",
            "cleanup.policy": "compact",
            "unclean.leader.election.enable": "true",
        }
    )
    assert config.segment_bytes == 1 << 20 and config.compact and not config.delete
    assert config.unclean_leader_election_enable is True
    assert config.to_properties()["segment.bytes"] == "1048576"
    assert LogConfig().flush_messages == 2**63 - 1 and LogConfig().index_interval_bytes == 4096
    with pytest.raises(ValueError, match="segmnt.bytes"):
        LogConfig.from_properties({"segmnt.bytes": "1"})
    with pytest.raises(ValueError, match="segment.bytes"):
        LogConfig.from_properties({"segment.bytes": "ten"})
    with pytest.raises(ValueError, match="cleanup.policy"):
        LogConfig(cleanup_policy="shred")


def test_offset_checkpoint_round_trip_and_atomicity(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    offsets = {("a-b", 0): 5, ("x", 12): 2**40}
    write_offset_checkpoint(path, offsets)
    assert read_offset_checkpoint(path) == offsets
    assert not list(tmp_path.glob("*.tmp"))
    assert read_offset_checkpoint(tmp_path / "missing") == {}


def test_lost_log_start_checkpoint_is_restored_after_a_clean_shutdown(tmp_path: Path) -> None:
    manager = LogManager(dirs(tmp_path)[:1], LogConfig(), Clock())
    fill(manager, "t", 1, batches=10)
    manager.get_log("t", 0).delete_records(7)
    manager.close()
    checkpoint = tmp_path / "a" / "log-start-offset-checkpoint"
    original = checkpoint.read_bytes()
    checkpoint.write_bytes(bytes(len(original)))
    again = LogManager(dirs(tmp_path)[:1], LogConfig(), Clock())
    assert again.get_log("t", 0).log_start_offset == 7
    again.close()
    assert checkpoint.read_bytes() == original


def test_a_new_partition_directory_is_made_durable_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash right after the log is created must not lose the partition's directory entry:
    # the log directory holding it is fsynced once the new directory exists.
    import broker.storage.manager as manager_module

    synced: list[tuple[str, list[str]]] = []
    real = manager_module.fsync_dir

    def recording(path: str) -> None:
        synced.append((path, sorted(os.listdir(path))))
        real(path)

    monkeypatch.setattr(manager_module, "fsync_dir", recording)
    manager = LogManager([str(tmp_path / "a")], LogConfig(), Clock(), broker_id=3)
    synced.clear()
    manager.get_or_create_log("orders", 0)
    assert [p for p, listing in synced if "orders-0" in listing] == [str(tmp_path / "a")]
    manager.get_or_create_log("orders", 0)
    assert len([p for p, listing in synced if "orders-0" in listing]) == 1, "only when created"
    manager.close()
