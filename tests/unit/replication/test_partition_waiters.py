"""Which waiters a leader wakes: acks=all writes, consumer and follower fetches (real log)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import trio
import trio.testing

from client.records import build_batch

from broker.metadata.records import PartitionState
from broker.replication.partition import CommitState, CommitWaiters, Partition
from broker.storage.config import LogConfig
from broker.storage.log import Log


def _leader(directory: Path, batches: int, min_insync: int = 2) -> Partition:
    """Broker 1 leading replicas 1, 2, 3 (write.caching, so its own end counts at once) with
    ``batches`` batches of two records appended."""
    log = Log(str(directory / "orders-0"), LogConfig(write_caching=True, min_insync_replicas=min_insync))
    state = PartitionState("orders", 0, (1, 2, 3), 1, 1, (1, 2, 3))
    partition = Partition("orders", 0, log, 1, state)
    partition.become_leader(state, 1, at_ms=0)
    for _ in range(batches):
        partition.append(memoryview(build_batch([b"a", b"b"])), acks=-1)
    return partition


def _follow(partition: Partition, offset: int) -> None:
    """Both followers fetch from ``offset``: the high watermark moves there."""
    partition.record_follower_fetch(2, offset)
    partition.record_follower_fetch(3, offset)


async def test_a_watermark_move_wakes_only_the_waiters_it_reaches(tmp_path: Path) -> None:
    partition = _leader(tmp_path, 3)
    events = {end: trio.Event() for end in (2, 4, 6)}
    for end, event in events.items():
        partition.commit_waiters.add(end, event)

    _follow(partition, 3)
    assert partition.high_watermark == 3
    assert [end for end, e in events.items() if e.is_set()] == [2], (
        "only the write below the new watermark is woken; the others would only look again"
    )
    _follow(partition, 6)
    assert all(e.is_set() for e in events.values())
    assert len(partition.commit_waiters) == 0
    for end in events:
        assert partition.commit_state(end, 1) is CommitState.COMMITTED


async def test_an_isr_change_wakes_every_waiter(tmp_path: Path) -> None:
    partition = _leader(tmp_path, 3)
    event = trio.Event()
    partition.commit_waiters.add(6, event)
    shrunk = replace(partition.state, isr=(1,))
    partition.update_leader_state(shrunk, 2)
    assert event.is_set()
    assert partition.commit_state(6, 1) is CommitState.NOT_ENOUGH_REPLICAS


async def test_losing_the_leadership_wakes_every_waiter(tmp_path: Path) -> None:
    partition = _leader(tmp_path, 1)
    event = trio.Event()
    partition.commit_waiters.add(2, event)
    partition.become_follower(replace(partition.state, leader=2, leader_epoch=2), 3)
    assert event.is_set()
    assert partition.commit_state(2, 1) is CommitState.NOT_LEADER


def test_discarded_waiters_are_not_woken_and_do_not_pile_up() -> None:
    waiters = CommitWaiters()
    kept = trio.Event()
    waiters.add(10, kept)
    for _ in range(1_000):
        gone = trio.Event()
        waiters.add(5, gone)
        waiters.discard(gone)
    assert len(waiters) == 1 and kept in waiters
    assert len(waiters._heap) < 200, "stale entries are swept"
    waiters.wake_reached(20)
    assert kept.is_set() and not gone.is_set()


def test_a_waiter_added_again_with_a_new_offset_waits_for_that_one() -> None:
    waiters = CommitWaiters()
    event = trio.Event()
    waiters.add(4, event)
    waiters.discard(event)
    waiters.add(9, event)
    waiters.wake_reached(5)
    assert not event.is_set(), "the stale entry at 4 must not wake the waiter for 9"
    waiters.wake_reached(9)
    assert event.is_set()


async def test_pipelined_acks_all_produces_are_answered_in_order_of_the_watermark(
    tmp_path: Path,
) -> None:
    """Through ``Partition.wait_committed``: each waiter returns once the watermark reaches it,
    and no earlier."""
    partition = _leader(tmp_path, 4)
    done: list[int] = []

    async def wait(end: int) -> None:
        assert await partition.wait_committed(end, 1) is CommitState.COMMITTED
        done.append(end)

    async with trio.open_nursery() as nursery:
        for end in (8, 2, 6, 4):
            nursery.start_soon(wait, end)
        await trio.testing.wait_all_tasks_blocked()
        for offset in (1, 4, 5, 8):
            _follow(partition, offset)
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(done) == [e for e in (2, 4, 6, 8) if e <= offset]


async def test_an_append_wakes_follower_fetches_and_a_watermark_move_wakes_consumers(
    tmp_path: Path,
) -> None:
    partition = _leader(tmp_path, 1)
    _follow(partition, 2)
    consumer, follower = trio.Event(), trio.Event()
    partition.data_waiters.add(consumer)
    partition.replica_waiters.add(follower)

    partition.append(memoryview(build_batch([b"c"])), acks=-1)
    assert follower.is_set(), "a follower reads up to the log end: the append is for it"
    assert not consumer.is_set(), "the watermark did not move: a consumer has nothing new"

    follower = trio.Event()
    partition.replica_waiters.add(follower)
    _follow(partition, 3)
    assert partition.high_watermark == 3
    assert consumer.is_set()
    assert not follower.is_set(), "the watermark moved but no record came for followers"


async def test_a_lone_leader_wakes_consumers_on_its_append(tmp_path: Path) -> None:
    """With the ISR down to the leader (and min.insync.replicas=1), an append is committed at
    once: consumers must hear of it."""
    partition = _leader(tmp_path, 1, min_insync=1)
    partition.update_leader_state(replace(partition.state, isr=(1,)), 2)
    consumer = trio.Event()
    partition.data_waiters.add(consumer)
    partition.append(memoryview(build_batch([b"c"])), acks=1)
    assert partition.high_watermark == 3
    assert consumer.is_set()


async def test_losing_the_leadership_wakes_every_fetch(tmp_path: Path) -> None:
    partition = _leader(tmp_path, 1)
    consumer, follower = trio.Event(), trio.Event()
    partition.data_waiters.add(consumer)
    partition.replica_waiters.add(follower)
    partition.become_follower(replace(partition.state, leader=2, leader_epoch=2), 3)
    assert consumer.is_set() and follower.is_set()


async def test_a_failed_expansion_moves_the_watermark_and_wakes_the_writes_it_reaches(
    tmp_path: Path,
) -> None:
    """Replica 3, back in sync, is proposed into the ISR and counts while that is in flight;
    when the write fails it must stop holding the watermark back at once, even though no
    follower makes progress afterwards (a quiet fetch does not recompute the watermark)."""
    partition = _leader(tmp_path, 3)
    partition.update_leader_state(replace(partition.state, isr=(1, 2)), 2)
    partition.record_follower_fetch(2, 4)
    assert partition.record_follower_fetch(3, 4) == (1, 2, 3)
    assert partition.high_watermark == 4
    write = trio.Event()
    partition.commit_waiters.add(6, write)
    partition.record_follower_fetch(2, 6)
    partition.record_follower_fetch(3, 4)
    assert partition.high_watermark == 4, "the replica being added still counts"

    partition.isr_change_failed()
    assert partition.high_watermark == 6
    assert write.is_set()


async def test_a_follower_without_progress_is_proposed_again_after_a_failed_change(
    tmp_path: Path,
) -> None:
    partition = _leader(tmp_path, 2)
    partition.update_leader_state(replace(partition.state, isr=(1, 2)), 2)
    partition.record_follower_fetch(2, 4)
    assert partition.record_follower_fetch(3, 4) == (1, 2, 3)
    assert partition.record_follower_fetch(3, 4) is None, "one change in flight at a time"
    partition.isr_change_failed()
    assert partition.record_follower_fetch(3, 4) == (1, 2, 3)


async def test_a_quiet_follower_fetch_keeps_the_follower_caught_up(tmp_path: Path) -> None:
    partition = _leader(tmp_path, 2)
    _follow(partition, 4)
    lag_ms = 10_000
    for at in (5_000, 9_000, 13_000):
        partition.record_follower_fetch(2, 4, at_ms=at)
        partition.record_follower_fetch(3, 4, at_ms=at)
    state = partition.leader_state
    assert state is not None
    assert state.propose_shrink(now_ms=20_000, max_lag_ms=lag_ms) is None
    assert state.propose_shrink(now_ms=24_000, max_lag_ms=lag_ms) == (1,)
