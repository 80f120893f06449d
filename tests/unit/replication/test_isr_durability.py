"""Group commit: rounds of fsyncs, and what its listeners (the leaders' watermarks) hear."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from client.records import build_batch

from broker.replication.durability import GroupCommit
from broker.storage.config import LogConfig
from broker.storage.log import FlushTask, Log


def _log(directory: Path) -> Log:
    log = Log(str(directory / "orders-0"), LogConfig())
    log.append_as_leader(memoryview(build_batch([b"a", b"b"])), 0)
    return log


async def test_a_round_tells_its_listeners_of_every_log_it_was_asked_for(tmp_path: Path) -> None:
    log = _log(tmp_path)
    commit = GroupCommit()
    heard: list[Log] = []
    commit.listeners.append(heard.extend)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run)
        await trio.testing.wait_all_tasks_blocked()
        commit.request(log, log.log_end_offset)
        await commit.wait_durable(log, log.log_end_offset)
        assert heard == [log]
        nursery.cancel_scope.cancel()
    log.close()


async def test_a_log_fsynced_before_its_round_is_still_announced(tmp_path: Path) -> None:
    # A leader's watermark moves only when a listener hears of its log: a log that the
    # periodic flush (flush.ms) fsynced after the request but before the round would
    # otherwise wait for the followers' next fetch, up to their long-poll.
    log = _log(tmp_path)
    commit = GroupCommit()
    heard: list[Log] = []
    commit.listeners.append(heard.extend)
    commit.request(log, log.log_end_offset)
    log.flush()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run)
        await trio.testing.wait_all_tasks_blocked()
        assert commit.rounds == 1
        assert heard == [log]
        nursery.cancel_scope.cancel()
    log.close()


@pytest.fixture
def held_fsyncs(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """FlushTask.run blocks until the second event is set; the first is set when one starts.

    A real fsync cannot be made to last, or to fail, on purpose."""
    started, release = threading.Event(), threading.Event()
    real_run = FlushTask.run

    def held(task: FlushTask) -> None:
        started.set()
        if not release.wait(10):
            raise AssertionError("fsync never released")
        real_run(task)

    monkeypatch.setattr(FlushTask, "run", held)
    return started, release


async def test_a_round_starts_without_waiting_for_the_event_loop(
    tmp_path: Path, held_fsyncs: tuple[threading.Event, threading.Event]
) -> None:
    started, release = held_fsyncs
    log = _log(tmp_path)
    commit = GroupCommit()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run)
        await trio.testing.wait_all_tasks_blocked()
        commit.request(log, log.log_end_offset)
        # The event loop is blocked here: the fsync must start all the same.
        assert started.wait(5), "the round waited for a pass of the event loop"
        release.set()
        await commit.wait_durable(log, log.log_end_offset)
        nursery.cancel_scope.cancel()
    log.close()


async def test_requests_during_a_round_share_the_next_one(
    tmp_path: Path, held_fsyncs: tuple[threading.Event, threading.Event]
) -> None:
    started, release = held_fsyncs
    first, second, third = (_log(tmp_path / name) for name in ("a", "b", "c"))
    commit = GroupCommit()
    heard: list[list[Log]] = []
    commit.listeners.append(heard.append)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run)
        await trio.testing.wait_all_tasks_blocked()
        commit.request(first, first.log_end_offset)
        assert started.wait(5)
        commit.request(second, second.log_end_offset)
        commit.request(third, third.log_end_offset)
        commit.request(first, first.log_end_offset)  # already in the round under way
        release.set()
        await commit.wait_all_durable(
            (log_, log_.log_end_offset) for log_ in (first, second, third)
        )
        assert heard == [[first], [second, third]]
        assert commit.rounds == 2
        nursery.cancel_scope.cancel()
    for log_ in (first, second, third):
        log_.close()


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("run", OSError(5, "Input/output error")),
        ("run", ValueError("a bug in the committer thread")),
        ("prepare", OSError(24, "Too many open files")),
    ],
)
async def test_a_failed_round_fails_its_waiters_and_the_next_round_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, error: Exception
) -> None:
    log = _log(tmp_path)
    target = (FlushTask, "run") if step == "run" else (Log, "prepare_flush")
    real = getattr(*target)

    def failing(self: object) -> None:
        raise error

    monkeypatch.setattr(*target, failing)
    commit = GroupCommit()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit.run)
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5), pytest.raises(OSError, match="fsync failed"):
            await commit.wait_durable(log, log.log_end_offset)
        assert log.recovery_point < log.log_end_offset
        monkeypatch.setattr(*target, real)
        with trio.fail_after(5):
            await commit.wait_durable(log, log.log_end_offset)
        assert log.recovery_point == log.log_end_offset
        nursery.cancel_scope.cancel()
    assert not [t for t in threading.enumerate() if t.name == "rillet-group-commit"], (
        "the committer thread ends with its task"
    )
    log.close()
