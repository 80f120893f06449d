"""Group commit: rounds of fsyncs, and what its listeners (the leaders' watermarks) hear."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from client.records import build_batch

from broker.replication.durability import GroupCommit
from broker.storage.config import LogConfig
from broker.storage.log import Log


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
