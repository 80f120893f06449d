"""A flush that fails leaves no duplicated descriptor open: not its own, not its round's."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.storage import Log, LogConfig
from broker.storage.log import prepare_flushes, run_flushes
from unit.storage.storage_helpers import small_batches


def open_descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[list[Log]]:
    """Three logs with records not yet fsynced; the first has rolled a segment too."""
    made = []
    for name in ("a-0", "b-0", "c-0"):
        log = Log(str(tmp_path / name), LogConfig(segment_bytes=1000))
        for batch in small_batches(12):
            log.append_as_leader(batch, 0)
        made.append(log)
    assert len(made[0].segments) > 1
    yield made
    for log in made:
        log.close()


def failing_once(monkeypatch: pytest.MonkeyPatch, name: str, error: OSError) -> None:
    """``os.<name>`` raises ``error`` on its first call, then works again (an I/O error or
    a full descriptor table cannot be had on purpose)."""
    real = getattr(os, name)
    calls = []

    def call(*args: object) -> object:
        calls.append(args)
        if len(calls) == 1:
            raise error
        return real(*args)

    monkeypatch.setattr(os, name, call)


def test_a_failed_fsync_closes_the_descriptors_of_the_round_s_later_tasks(
    logs: list[Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = open_descriptors()
    tasks = prepare_flushes(logs)
    assert len(tasks) == 3 and open_descriptors() > before
    failing_once(monkeypatch, "fsync", OSError(errno.EIO, "Input/output error"))
    with pytest.raises(OSError, match="Input/output error"):
        run_flushes([task for _, task in tasks])
    assert open_descriptors() == before
    assert all(log.recovery_point < log.log_end_offset for log in logs)


def test_a_failed_prepare_closes_the_descriptors_of_the_tasks_made_before_it(
    logs: list[Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = open_descriptors()
    real = Log.prepare_flush

    def prepare(log: Log) -> object:
        if log is logs[2]:
            raise OSError(errno.EMFILE, "Too many open files")
        return real(log)

    monkeypatch.setattr(Log, "prepare_flush", prepare)
    with pytest.raises(OSError, match="Too many open files"):
        prepare_flushes(logs)
    assert open_descriptors() == before


def test_a_task_that_cannot_duplicate_every_descriptor_closes_those_it_did(
    logs: list[Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = open_descriptors()
    real = os.dup
    made = []

    def dup(fd: int) -> int:
        if len(made) == 2:  # the active segment's data and one rolled file
            raise OSError(errno.EMFILE, "Too many open files")
        made.append(real(fd))
        return made[-1]

    monkeypatch.setattr(os, "dup", dup)
    with pytest.raises(OSError, match="Too many open files"):
        logs[0].prepare_flush()
    assert len(made) == 2
    assert open_descriptors() == before


def test_after_a_failed_round_the_next_one_fsyncs_everything(
    logs: list[Log], monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_once(monkeypatch, "fsync", OSError(errno.EIO, "Input/output error"))
    with pytest.raises(OSError):
        run_flushes([task for _, task in prepare_flushes(logs)])
    tasks = prepare_flushes(logs)
    run_flushes([task for _, task in tasks])
    for log, task in tasks:
        log.complete_flush(task)
    assert all(log.recovery_point == log.log_end_offset for log in logs)
