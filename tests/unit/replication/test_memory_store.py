"""The in-memory store the simulations run on: versions, watches, leases on the trio clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from broker.metadata.leases import LeaseExpired, campaign, held_lease
from broker.metadata.membership import BrokerInfo, ClusterView, register
from broker.metadata.memory import MemoryMetadataStore


async def test_versions_grow_and_compare_and_set_checks_them() -> None:
    store = MemoryMetadataStore()
    assert await store.compare_and_set("a", 0, {"n": 1})
    assert not await store.compare_and_set("a", 0, {"n": 2})
    first = await store.get("a")
    assert first is not None and first.value == {"n": 1}
    assert await store.compare_and_set("b", 0, {})
    assert await store.compare_and_set("a", first.version, None)
    assert await store.get("a") is None
    entries, revision = await store.list("")
    assert list(entries) == ["b"] and revision == 3


async def test_watch_sees_later_changes_in_order() -> None:
    store = MemoryMetadataStore()
    await store.compare_and_set("x/0", 0, {"v": 0})
    async with store.watch("x/") as changes:
        await store.compare_and_set("x/1", 0, {"v": 1})
        await store.compare_and_set("y", 0, {"v": 2})
        await store.compare_and_set("x/1", 2, None)
        seen = [await changes.__anext__(), await changes.__anext__()]
    assert [(c.key, c.value, c.version) for c in seen] == [
        ("x/1", {"v": 1}, 2),
        ("x/1", None, 4),
    ]


async def test_a_lease_not_kept_alive_takes_its_keys_with_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        lease = await store.grant_lease(3)
        await store.put_with_lease("brokers/1", {"node_id": 1}, lease)
        async with store.watch("brokers/") as changes:
            await trio.sleep(2.9)
            assert await store.get("brokers/1") is not None
            await trio.sleep(0.2)
            assert await store.get("brokers/1") is None
            change = await changes.__anext__()
            assert change.key == "brokers/1" and change.value is None
        with pytest.raises(LeaseExpired):
            await store.put_with_lease("brokers/1", {}, lease)
        nursery.cancel_scope.cancel()


async def test_kept_alive_lease_lives_and_revoke_ends_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        async with held_lease(store, 2) as lease:
            await store.put_with_lease("k", {}, lease)
            await trio.sleep(60)
            assert await store.get("k") is not None
        assert await store.get("k") is None, "leaving the block revokes the lease"
        nursery.cancel_scope.cancel()


async def test_campaign_waits_for_the_holder_to_go(autojump_clock: trio.testing.MockClock) -> None:
    store = MemoryMetadataStore()
    order: list[int] = []

    async def candidate(node: int, stop_after: float) -> None:
        async with held_lease(store, 2) as lease:
            await campaign(store, store, "controller", {"node_id": node}, lease)
            order.append(node)
            await trio.sleep(stop_after)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        async with trio.open_nursery() as candidates:
            candidates.start_soon(candidate, 1, 5)
            await trio.sleep(0.1)
            candidates.start_soon(candidate, 2, 1)
        nursery.cancel_scope.cancel()
    assert order == [1, 2]


async def test_cluster_view_follows_registrations_and_the_controller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryMetadataStore()
    view = ClusterView(7)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_expiry)
        await nursery.start(view.run, store)
        lease = await store.grant_lease(2)
        info = await register(store, BrokerInfo(1, "h", 1, "x"), lease)
        await store.create_with_lease("controller", {"node_id": 1}, lease)
        await trio.sleep(0.1)
        assert view.brokers == {1: info}
        assert view.controller_id == 1
        assert view.endpoint(1) == ("h", 1)
        await trio.sleep(3)  # the lease runs out
        assert view.brokers == {} and view.controller_id == -1
        nursery.cancel_scope.cancel()
