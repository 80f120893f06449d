"""The trio adapter on a virtual clock: held requests, timers without polling, append order."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.errors import ErrorCode
from broker.coordinator.service import CoordinatorService, CoordinatorUnavailable
from broker.coordinator.store import CoordinatorStore
from unit.coordinator.harness import counting_member_ids

CONFIG = CoordinatorConfig(initial_rebalance_delay_ms=300, min_session_timeout_ms=10)
WALL0 = 1_700_000_000_000


class Log:
    """An in-memory __consumer_offsets partition that can be told to fail."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.appends = 0
        self.fail = False

    async def append(self, records: list[tuple[bytes, bytes | None]]) -> None:
        await trio.sleep(0.001)  # the append takes time; responses must wait for it
        if self.fail:
            raise OSError("disk full")
        self.appends += 1
        self.records.extend(records)


def join_body(member_id: str = "", **overrides: Any) -> dict[str, Any]:
    body = {
        "group_id": "g",
        "session_timeout_ms": 1000,
        "rebalance_timeout_ms": 2000,
        "member_id": member_id,
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b"m"}],
    }
    body.update(overrides)
    return body


async def start(nursery: trio.Nursery, log: Log) -> CoordinatorService:
    core = GroupCoordinator(CONFIG, now_ms=WALL0, member_id_factory=counting_member_ids())
    service = CoordinatorService(core, log.append, wall_clock_ms=lambda: WALL0)
    await nursery.start(service.run)
    return service


async def test_join_is_held_for_the_initial_delay_then_sync_stores(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)
        t0 = trio.current_time()
        required = await service.join_group(join_body(), 5, client_id="a", client_host="h")
        assert required["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
        joined = await service.join_group(
            join_body(required["member_id"]), 5, client_id="a", client_host="h"
        )
        assert trio.current_time() - t0 == pytest.approx(0.3, abs=0.005)
        assert joined["generation_id"] == 1
        member = joined["member_id"]
        synced = await service.sync_group(
            {"group_id": "g", "generation_id": 1, "member_id": member,
             "assignments": [{"member_id": member, "assignment": b"A"}]},
            3,
        )
        assert synced["assignment"] == b"A"
        store = CoordinatorStore()
        store.load(log.records)
        assert store.groups["g"].members[0].assignment == b"A"
        nursery.cancel_scope.cancel()


async def test_two_members_join_together_and_a_silent_one_expires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    answers: dict[str, dict[str, Any]] = {}
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)

        async def member(name: str) -> None:
            first = await service.join_group(join_body(), 5, client_id=name, client_host="h")
            answers[name] = await service.join_group(
                join_body(first["member_id"]), 5, client_id=name, client_host="h"
            )

        async with trio.open_nursery() as joiners:
            joiners.start_soon(member, "a")
            joiners.start_soon(member, "b")
        gen = answers["a"]["generation_id"]
        assert gen == answers["b"]["generation_id"] == 1
        leader = answers["a"]["leader"]
        ids = [answers["a"]["member_id"], answers["b"]["member_id"]]
        follower = next(i for i in ids if i != leader)

        async def follower_sync() -> None:
            answers["sync"] = await service.sync_group(
                {"group_id": "g", "generation_id": gen, "member_id": follower}, 3
            )

        nursery.start_soon(follower_sync)
        await trio.sleep(0.5)
        assert "sync" not in answers, "held until the leader assigns"
        await service.sync_group(
            {"group_id": "g", "generation_id": gen, "member_id": leader,
             "assignments": [{"member_id": follower, "assignment": b"F"}]},
            3,
        )
        await trio.sleep(0)
        await trio.sleep(0.01)
        assert answers["sync"]["assignment"] == b"F"
        # Only the leader heartbeats: the follower's session (1 s) runs out by timer.
        for _ in range(3):
            await trio.sleep(0.4)
            beat = await service.heartbeat(
                {"group_id": "g", "generation_id": gen, "member_id": leader}, 3
            )
        assert beat["error_code"] == ErrorCode.REBALANCE_IN_PROGRESS
        assert follower not in service.coordinator.groups["g"].members
        nursery.cancel_scope.cancel()


async def test_an_earlier_deadline_wakes_the_timer(autojump_clock: trio.testing.MockClock) -> None:
    log = Log()
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)
        # The first timer is the offset expiry check, ten minutes away.
        expiry_check = WALL0 + CONFIG.offsets_retention_check_interval_ms
        assert service.coordinator.next_deadline() == expiry_check
        t0 = trio.current_time()
        required = await service.join_group(join_body(), 4, client_id="a", client_host="h")
        with trio.fail_after(1):
            await service.join_group(
                join_body(required["member_id"]), 4, client_id="a", client_host="h"
            )
        assert trio.current_time() - t0 < 0.31
        nursery.cancel_scope.cancel()


async def test_responses_wait_for_their_records_and_keep_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)
        seen: list[int] = []

        async def commit(offset: int) -> None:
            body = {"group_id": "s", "generation_id": -1, "member_id": "", "topics": [
                {"name": "t", "partitions": [{"partition_index": 0, "committed_offset": offset}]}
            ]}
            await service.commit_offsets(body, 7)
            seen.append(len(log.records))

        async with trio.open_nursery() as committers:
            for offset in range(5):
                committers.start_soon(commit, offset)
        assert sorted(seen) == seen and all(n >= 1 for n in seen)
        fetched = await service.fetch_offsets({"group_id": "s", "topics": None}, 7)
        last = fetched["topics"][0]["partitions"][0]["committed_offset"]
        store = CoordinatorStore()
        store.load(log.records)
        assert store.offsets["s"][("t", 0)].offset == last
        nursery.cancel_scope.cancel()


async def test_failed_append_stops_the_service(autojump_clock: trio.testing.MockClock) -> None:
    log = Log()
    log.fail = True
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)
        body = {"group_id": "s", "topics": [
            {"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 1}]}
        ]}
        with pytest.raises(CoordinatorUnavailable, match="disk full"):
            await service.commit_offsets(body, 7)
        with pytest.raises(CoordinatorUnavailable):
            await service.heartbeat({"group_id": "s", "generation_id": 0, "member_id": "x"}, 3)
        nursery.cancel_scope.cancel()


async def test_unloading_fails_held_requests(autojump_clock: trio.testing.MockClock) -> None:
    log = Log()
    outcome: list[str] = []
    async with trio.open_nursery() as outer:
        service_scope = trio.CancelScope()
        core = GroupCoordinator(CONFIG, now_ms=WALL0, member_id_factory=counting_member_ids())
        service = CoordinatorService(core, log.append, wall_clock_ms=lambda: WALL0)

        async def run_service() -> None:
            with service_scope:
                await service.run()

        outer.start_soon(run_service)
        await trio.sleep(0)

        async def held_join() -> None:
            try:
                await service.join_group(join_body(), 3, client_id="a", client_host="h")
            except CoordinatorUnavailable:
                outcome.append("unavailable")

        outer.start_soon(held_join)
        await trio.sleep(0.1)  # inside the initial delay: the join is held
        service_scope.cancel()
    assert outcome == ["unavailable"]


async def test_operations_queued_during_an_append_share_the_next_append(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = Log()
    async with trio.open_nursery() as nursery:
        service = await start(nursery, log)

        async def commit(partition: int) -> None:
            body = {"group_id": "s", "generation_id_or_member_epoch": -1, "member_id": "",
                    "topics": [{"name": "t", "partitions": [
                        {"partition_index": partition, "committed_offset": 5}]}]}  # fmt: skip
            answer = await service.commit_offsets(body, 7)
            assert answer["topics"][0]["partitions"][0]["error_code"] == ErrorCode.NONE

        async with trio.open_nursery() as committers:
            for partition in range(20):
                committers.start_soon(commit, partition)
        nursery.cancel_scope.cancel()
    assert len(log.records) == 20
    # Commits queued while an append is under way share the next one, not one each.
    assert log.appends <= 2
