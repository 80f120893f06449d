"""The etcd metadata backend against a real etcd, and the behaviour both backends share.

The first part is one behavioural suite run over the local store and the etcd store alike.
The rest is etcd's own: watches that survive a restarted or crashed etcd and a compacted
history, leases that expire, election among competing stores, several endpoints, and a real
broker process keeping its topics in etcd.
"""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.config import ConfigError, build_config
from broker.metadata import (
    Change,
    EtcdMetadataStore,
    LeaseExpired,
    Leases,
    LocalMetadataStore,
    MetadataError,
    MetadataStore,
    PartitionState,
    WatchLagged,
    campaign,
    create_topic,
    get_partition,
    get_topic,
    held_lease,
    list_topics,
    open_leases,
    open_store,
    update_partition,
)
from broker.metadata.etcd import parse_etcd_url
from broker.metadata.etcd_gateway import api_root_for, range_end
from harness.broker import BrokerProcess, free_port
from harness.etcd import EtcdProcess, etcd, own_etcd  # noqa: F401 (fixtures)

Opener = Callable[[], Awaitable[MetadataStore]]


@pytest.fixture(params=["local", "etcd"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's store again and again: same file, or same etcd key prefix."""
    if request.param == "local":
        return lambda: LocalMetadataStore.open(tmp_path)
    process: EtcdProcess = request.getfixturevalue("etcd")
    url = process.url(f"t{time.monotonic_ns()}")
    return lambda: EtcdMetadataStore.open(url, request_timeout=2.0)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[MetadataStore]:
    """A fresh, empty store of each backend."""
    opened = await opener()
    try:
        yield opened
    finally:
        await opened.aclose()


async def take(changes: AsyncIterator[Change], count: int, timeout: float = 5.0) -> list[Change]:
    """The next `count` changes of a watch, failing the test if they do not come in time."""
    taken: list[Change] = []
    with trio.fail_after(timeout):
        async for change in changes:
            taken.append(change)
            if len(taken) == count:
                break
    return taken


async def version_of(store: MetadataStore, key: str) -> int:
    found = await store.get(key)
    return 0 if found is None else found.version


# -- pure helpers -----------------------------------------------------------------------


def test_parse_etcd_url() -> None:
    assert parse_etcd_url("etcd://10.0.0.1:2379/rillet") == ([("10.0.0.1", 2379)], "rillet/")
    assert parse_etcd_url("etcd://a:1,[::1]:2/x/y/") == ([("a", 1), ("::1", 2)], "x/y/")
    assert parse_etcd_url("etcd://a:1") == ([("a", 1)], "")
    for bad in ["etcd://a/p", "etcd://a:1,:2/p", "etcd://a:99999/p", "http://a:1/p", "etcd:///p"]:
        with pytest.raises(MetadataError):
            parse_etcd_url(bad)


def test_prefix_range_end_and_api_root() -> None:
    assert range_end(b"topics/") == b"topics0"
    assert range_end(b"a\xff\xff") == b"b"
    assert range_end(b"") == range_end(b"\xff") == b"\0"
    assert api_root_for("3.5.9") == api_root_for("3.4.23") == "/v3"
    assert api_root_for("3.3.11") == "/v3beta"


# -- the behaviour both backends share -----------------------------------------------------


async def test_values_and_versions_survive_reopen(opener: Opener) -> None:
    store = await opener()
    assert await store.compare_and_set("a/1", 0, {"x": 1})
    assert await store.compare_and_set("a/2", 0, {"x": 2})
    assert await store.compare_and_set("a/1", await version_of(store, "a/1"), {"x": 3})
    assert await store.compare_and_set("b", 0, {"outside": True})
    before, revision = await store.list("a/")
    await store.aclose()

    reopened = await opener()
    try:
        after, reopened_revision = await reopened.list("a/")
        assert after == before
        assert sorted(after) == ["a/1", "a/2"]
        assert after["a/1"].value == {"x": 3}
        assert reopened_revision >= revision >= max(v.version for v in after.values())
        assert await reopened.compare_and_set("c", 0, {})
        assert await version_of(reopened, "c") > reopened_revision
    finally:
        await reopened.aclose()


async def test_compare_and_set_conflicts(store: MetadataStore) -> None:
    assert await store.get("k") is None
    assert await store.compare_and_set("k", 0, {"n": 1})
    assert not await store.compare_and_set("k", 0, {"n": 2}), "create over an existing key"
    current = await store.get("k")
    assert current is not None and current.value == {"n": 1}
    assert not await store.compare_and_set("k", current.version + 1, {"n": 2})
    assert await store.compare_and_set("k", current.version, {"n": 2})
    assert not await store.compare_and_set("k", current.version, {"n": 3}), "stale version"
    latest = await store.get("k")
    assert latest is not None and latest.value == {"n": 2}
    assert not await store.compare_and_set("k", current.version, None), "stale delete"
    assert await store.compare_and_set("k", latest.version, None)
    assert await store.get("k") is None
    assert not await store.compare_and_set("k", 0, None), "deleting an absent key"
    assert not await store.compare_and_set("k", latest.version, None), "deleting it again"


async def test_versions_only_grow_also_through_deletes(store: MetadataStore) -> None:
    seen: list[int] = []
    for i in range(3):
        assert await store.compare_and_set("k", 0, {"round": i})
        seen.append(await version_of(store, "k"))
        assert await store.compare_and_set("other", await version_of(store, "other"), {"i": i})
        seen.append(await version_of(store, "other"))
        assert await store.compare_and_set("k", await version_of(store, "k"), None)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    entries, revision = await store.list("")
    assert set(entries) >= {"other"} and "k" not in entries
    assert revision > seen[-1], "the last delete of k came after every write"


async def test_list_takes_keys_by_prefix_only(store: MetadataStore) -> None:
    for key in ["p", "p/", "p/a", "p/b/c", "pq", "q/p/a"]:
        assert await store.compare_and_set(key, 0, {"key": key})
    entries, _ = await store.list("p/")
    assert sorted(entries) == ["p/", "p/a", "p/b/c"]
    assert all(entries[k].value == {"key": k} for k in entries)
    everything, _ = await store.list("")
    assert sorted(everything) == ["p", "p/", "p/a", "p/b/c", "pq", "q/p/a"]


async def test_concurrent_writers_one_wins(store: MetadataStore) -> None:
    await store.compare_and_set("k", 0, {"n": 0})
    version = await version_of(store, "k")
    results: dict[int, bool] = {}

    async def writer(n: int) -> None:
        results[n] = await store.compare_and_set("k", version, {"n": n})

    async with trio.open_nursery() as nursery:
        for n in range(1, 6):
            nursery.start_soon(writer, n)
    winners = [n for n, won in results.items() if won]
    assert len(winners) == 1
    assert (await store.get("k")).value == {"n": winners[0]}  # type: ignore[union-attr]


async def test_watch_delivers_changes_in_order_under_its_prefix(store: MetadataStore) -> None:
    async with store.watch("p/") as changes:
        await store.compare_and_set("p/a", 0, {"i": 0})
        await store.compare_and_set("other", 0, {"i": -1})
        for i in range(1, 5):
            await store.compare_and_set("p/a", await version_of(store, "p/a"), {"i": i})
        await store.compare_and_set("p/b", 0, {"i": 9})
        await store.compare_and_set("p/a", await version_of(store, "p/a"), None)
        seen = await take(changes, 7)
    assert [(c.key, c.value) for c in seen] == [
        ("p/a", {"i": 0}),
        *[("p/a", {"i": i}) for i in range(1, 5)],
        ("p/b", {"i": 9}),
        ("p/a", None),
    ]
    versions = [c.version for c in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    entries, revision = await store.list("")
    assert versions[-1] <= revision
    assert entries["p/b"].version == versions[-2]


async def test_watch_registers_before_its_first_iteration(store: MetadataStore) -> None:
    await store.compare_and_set("w/before", 0, {})
    watch = store.watch("w/")
    # Nothing iterates yet; these writes still belong to the watch, the earlier one does not.
    await store.compare_and_set("w/after", 0, {"n": 1})
    await store.compare_and_set("w/before", await version_of(store, "w/before"), None)
    async with watch:
        seen = await take(watch, 2)
    assert [(c.key, c.value) for c in seen] == [("w/after", {"n": 1}), ("w/before", None)]


async def test_list_then_watch_misses_nothing(store: MetadataStore) -> None:
    for i in range(3):
        await store.compare_and_set(f"s/{i}", 0, {"i": i})
    async with store.watch("s/") as changes:
        entries, revision = await store.list("s/")
        await store.compare_and_set("s/3", 0, {"i": 3})
        await store.compare_and_set("s/0", entries["s/0"].version, {"i": 10})
        fresh = [c for c in await take(changes, 2) if c.version > revision]
    assert sorted(entries) == ["s/0", "s/1", "s/2"]
    assert [(c.key, c.value) for c in fresh] == [("s/3", {"i": 3}), ("s/0", {"i": 10})]


async def test_closing_the_store_ends_its_watches(opener: Opener) -> None:
    store = await opener()
    watch = store.watch("x/")
    received: list[Change] = []

    async def read() -> None:
        async for change in watch:
            received.append(change)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await store.compare_and_set("x/1", 0, {})
            while not received:
                await trio.sleep(0.01)
            await store.aclose()
    assert [c.key for c in received] == ["x/1"]
    with pytest.raises(MetadataError):
        await store.get("x/1")
    with pytest.raises(MetadataError):
        await store.compare_and_set("x/2", 0, {})


async def test_topics_and_partitions_over_the_store(opener: Opener) -> None:
    store = await opener()
    record = await create_topic(store, "orders", [[1, 2], [2, 1]], {"retention.ms": "1000"})
    assert record is not None and record.partitions == 2
    assert await create_topic(store, "orders", [[1]]) is None
    state, version = await get_partition(store, "orders", 1)  # type: ignore[misc]
    bumped = PartitionState("orders", 1, state.replicas, 1, state.leader_epoch + 1, (1,))
    assert await update_partition(store, bumped, version)
    assert not await update_partition(store, bumped, version), "stale version"
    await store.aclose()

    store = await opener()
    try:
        assert await get_topic(store, "orders") == record
        assert list(await list_topics(store)) == ["orders"]
        assert (await get_partition(store, "orders", 1))[0] == bumped  # type: ignore[index]
    finally:
        await store.aclose()


async def test_campaign_elects_one_holder_at_a_time(store: MetadataStore) -> None:
    leases = await open_leases(store)
    assert isinstance(leases, Leases)
    first, second = await leases.grant_lease(2), await leases.grant_lease(2)
    assert first != second
    won_first = await campaign(store, leases, "controller", {"node": 1}, first)
    assert (await store.get("controller")).value == {"node": 1}  # type: ignore[union-attr]
    assert await leases.create_with_lease("controller", {"node": 2}, second) is None
    winner: list[int] = []

    async def second_candidate() -> None:
        winner.append(await campaign(store, leases, "controller", {"node": 2}, second))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(second_candidate)
            await trio.sleep(0.2)
            assert not winner, "the key is held"
            await leases.revoke(first)
    assert winner[0] > won_first
    assert (await store.get("controller")).value == {"node": 2}  # type: ignore[union-attr]
    with pytest.raises(LeaseExpired):
        await leases.put_with_lease("k", {}, first)
    await leases.revoke(second)
    assert await store.get("controller") is None


# -- etcd only: watches that outlive their stream ------------------------------------------


async def write_retrying(store: MetadataStore, key: str, value: dict[str, int]) -> None:
    """Create `key` even while etcd restarts; a write whose answer was lost counts if it landed."""
    while True:
        try:
            if await store.compare_and_set(key, 0, value):
                return
            found = await store.get(key)
            assert found is not None and found.value == value, "someone else wrote the key"
            return
        except MetadataError:
            await trio.sleep(0.05)


@pytest.mark.parametrize("how", ["restart", "kill"])
async def test_watch_resumes_after_etcd_restarts(
    own_etcd: EtcdProcess, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_etcd.url("resume")
    writer = await EtcdMetadataStore.open(url, request_timeout=1.0)
    reader = await EtcdMetadataStore.open(url, request_timeout=1.0)
    count = 40
    try:
        async with reader.watch("r/") as changes:

            async def write_all() -> None:
                for i in range(count):
                    await write_retrying(writer, f"r/{i:03d}", {"i": i})
                    if i == count // 2:
                        if how == "kill":
                            await trio.to_thread.run_sync(own_etcd.kill)
                            await trio.to_thread.run_sync(own_etcd.start)
                        else:
                            await trio.to_thread.run_sync(own_etcd.restart)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(write_all)
                seen = await take(changes, count, timeout=20)
    finally:
        await writer.aclose()
        await reader.aclose()
    assert [(c.key, c.value) for c in seen] == [(f"r/{i:03d}", {"i": i}) for i in range(count)]
    versions = [c.version for c in seen]
    assert versions == sorted(versions) and len(set(versions)) == count
    assert any("watch on 'r/'" in r.getMessage() for r in caplog.records), "the stream broke"


class CuttableProxy:
    """A TCP relay to etcd whose open connections the test can sever, as a network fault would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self._pairs: list[tuple[trio.SocketStream, trio.SocketStream]] = []

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, client: trio.SocketStream) -> None:
        self.accepted += 1
        async with client, await trio.open_tcp_stream("127.0.0.1", self.target_port) as upstream:
            self._pairs.append((client, upstream))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
                nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)

    @staticmethod
    async def _pump(
        source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope
    ) -> None:
        try:
            async for data in source:
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        both.cancel()

    async def cut(self) -> None:
        """Close every relayed connection at once."""
        pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            await client.aclose()
            await upstream.aclose()


async def test_watch_resumes_after_its_stream_is_cut(etcd: EtcdProcess) -> None:
    prefix = f"cut{time.monotonic_ns()}"
    proxy = CuttableProxy(etcd.client_port)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(proxy.serve)
        writer = await EtcdMetadataStore.open(etcd.url(prefix))
        reader = await EtcdMetadataStore.open(f"etcd://127.0.0.1:{port}/{prefix}")
        try:
            async with reader.watch("c/") as watch:
                for i in range(3):
                    await writer.compare_and_set(f"c/{i}", 0, {"i": i})
                first = await take(watch, 2)
                connections = proxy.accepted
                await proxy.cut()
                for i in range(3, 6):
                    await writer.compare_and_set(f"c/{i}", 0, {"i": i})
                rest = await take(watch, 4)
        finally:
            await writer.aclose()
            await reader.aclose()
        nursery.cancel_scope.cancel()
    assert [c.key for c in first + rest] == [f"c/{i}" for i in range(6)]
    assert proxy.accepted > connections, "the watch reconnected"


async def test_watch_behind_a_compaction_is_told(own_etcd: EtcdProcess) -> None:
    store = await EtcdMetadataStore.open(own_etcd.url("lag"))
    try:
        watch = store.watch("")
        for i in range(4):
            await store.compare_and_set(f"k{i}", 0, {})
        await trio.to_thread.run_sync(own_etcd.compact, store.revision)
        with pytest.raises(WatchLagged, match="compacted"):
            await take(watch, 1)
        # Listing again and watching from there works.
        entries, _ = await store.list("")
        assert sorted(entries) == ["k0", "k1", "k2", "k3"]
        async with store.watch("") as fresh:
            await store.compare_and_set("k4", 0, {})
            assert [c.key for c in await take(fresh, 1)] == ["k4"]
    finally:
        await store.aclose()


# -- etcd only: two stores -----------------------------------------------------------------


async def test_concurrent_cas_from_two_stores_one_wins_per_version(etcd: EtcdProcess) -> None:
    url = etcd.url(f"cas{time.monotonic_ns()}")
    stores = [await EtcdMetadataStore.open(url) for _ in range(2)]
    try:
        await stores[0].compare_and_set("counter", 0, {"n": 0, "by": -1})
        for round_ in range(10):
            current = await stores[1].get("counter")
            assert current is not None and current.value["n"] == round_
            outcome: dict[int, bool] = {}

            async def bump(which: int, expected: int = current.version) -> None:
                value = {"n": round_ + 1, "by": which}
                outcome[which] = await stores[which].compare_and_set("counter", expected, value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(bump, 0)
                nursery.start_soon(bump, 1)
            assert sorted(outcome.values()) == [False, True]
            winner = next(w for w, won in outcome.items() if won)
            after = await stores[1 - winner].get("counter")
            assert after is not None and after.value == {"n": round_ + 1, "by": winner}
            assert after.version > current.version
    finally:
        for store in stores:
            await store.aclose()


# -- etcd only: leases ---------------------------------------------------------------------


async def wait_until_absent(store: MetadataStore, key: str, timeout: float) -> float:
    """Seconds until `key` is gone; fails the test after `timeout`."""
    started = trio.current_time()
    with trio.fail_after(timeout):
        while await store.get(key) is not None:
            await trio.sleep(0.05)
    return trio.current_time() - started


async def test_leased_key_lives_with_keep_alives_and_goes_without(etcd: EtcdProcess) -> None:
    store = await EtcdMetadataStore.open(etcd.url(f"lease{time.monotonic_ns()}"))
    try:
        lease = await store.grant_lease(2)
        version = await store.put_with_lease("brokers/1", {"host": "a"}, lease)
        assert (await store.get("brokers/1")).version == version  # type: ignore[union-attr]
        async with store.watch("brokers/") as changes:
            async with trio.open_nursery() as nursery:
                await nursery.start(store.keep_alive, lease)
                await trio.sleep(3.0)  # longer than the TTL
                assert await store.get("brokers/1") is not None
                nursery.cancel_scope.cancel()
            gone_after = await wait_until_absent(store, "brokers/1", timeout=4.0)
            assert gone_after < 3.5
            [deletion] = await take(changes, 1)
        assert (deletion.key, deletion.value) == ("brokers/1", None)
        assert deletion.version > version
        with pytest.raises(LeaseExpired):
            await store.put_with_lease("brokers/1", {}, lease)
        with pytest.raises(LeaseExpired):
            await store.keep_alive(lease)
    finally:
        await store.aclose()


async def test_expired_controller_lease_hands_the_key_to_the_other_store(
    etcd: EtcdProcess,
) -> None:
    url = etcd.url(f"elect{time.monotonic_ns()}")
    stores = [await EtcdMetadataStore.open(url) for _ in range(2)]
    try:
        leases = [await store.grant_lease(2) for store in stores]
        created: dict[int, int | None] = {}

        async def try_create(which: int) -> None:
            created[which] = await stores[which].create_with_lease(
                "controller", {"node": which}, leases[which]
            )

        async with trio.open_nursery() as outer:
            keep_alive_scopes = []
            for which in range(2):
                scope = trio.CancelScope()
                keep_alive_scopes.append(scope)

                async def keep(which: int = which, scope: trio.CancelScope = scope) -> None:
                    with scope:
                        await stores[which].keep_alive(leases[which])

                outer.start_soon(keep)
            async with trio.open_nursery() as race:
                race.start_soon(try_create, 0)
                race.start_soon(try_create, 1)
            winners = [w for w, version in created.items() if version is not None]
            assert len(winners) == 1
            winner, loser = winners[0], 1 - winners[0]
            # The winner dies: its keep-alives stop, and the loser's campaign succeeds.
            keep_alive_scopes[winner].cancel()
            started = trio.current_time()
            with trio.fail_after(5):
                taken = await campaign(
                    stores[loser], stores[loser], "controller", {"node": loser}, leases[loser]
                )
            assert trio.current_time() - started < 3.5
            assert taken > created[winner]  # type: ignore[operator]
            holder = await stores[winner].get("controller")
            assert holder is not None and holder.value == {"node": loser}
            outer.cancel_scope.cancel()
    finally:
        for store in stores:
            await store.aclose()


async def test_held_lease_revokes_on_exit(etcd: EtcdProcess) -> None:
    store = await EtcdMetadataStore.open(etcd.url(f"held{time.monotonic_ns()}"))
    try:
        async with held_lease(store, 5) as lease:
            await store.put_with_lease("brokers/7", {"n": 7}, lease)
            assert await store.get("brokers/7") is not None
        assert await store.get("brokers/7") is None, "revoked at once, not after the TTL"
        with pytest.raises(LeaseExpired):
            await store.keep_alive(lease)

        # Losing the lease (here: someone revokes it) cancels the block holding it.
        started = trio.current_time()
        with pytest.raises(ExceptionGroup) as lost:
            async with held_lease(store, 2) as lease:
                await store.revoke(lease)
                await trio.sleep(10)
        assert lost.group_contains(LeaseExpired)
        # Noticed at a keep-alive (every TTL/3), long before the block's 10 s sleep ends; the
        # margin allows for a loaded machine.
        assert trio.current_time() - started < 6.0, "the lost lease cancelled the block"
    finally:
        await store.aclose()


async def test_local_leases_of_a_dead_process_are_cleared(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    leases = await open_leases(store)
    assert await open_leases(store) is leases
    lease = await leases.grant_lease(5)
    await leases.put_with_lease("brokers/0", {"n": 0}, lease)
    assert await leases.create_with_lease("controller", {"n": 0}, lease)
    await store.compare_and_set("topics/t", 0, {"kept": True})
    await store.aclose()  # the process "dies" without revoking

    store = await LocalMetadataStore.open(tmp_path)
    assert await store.get("controller") is not None
    leases = await open_leases(store)
    entries, _ = await store.list("")
    assert sorted(entries) == ["topics/t"]
    lease = await leases.grant_lease(5)
    assert await leases.create_with_lease("controller", {"n": 1}, lease)
    await store.aclose()


# -- etcd only: endpoints, configuration, a broker -----------------------------------------


async def test_an_unreachable_endpoint_is_skipped_and_named(etcd: EtcdProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    store = await EtcdMetadataStore.open(
        f"etcd://{dead},{etcd.endpoint}/ep{time.monotonic_ns()}", request_timeout=2.0
    )
    try:
        assert await store.compare_and_set("k", 0, {"ok": True})
        assert (await store.get("k")).value == {"ok": True}  # type: ignore[union-attr]
    finally:
        await store.aclose()
    with trio.fail_after(5):
        with pytest.raises(MetadataError, match=dead):
            await EtcdMetadataStore.open(f"etcd://{dead}/x", request_timeout=1.0)


async def test_open_store_picks_the_backend_from_the_config(
    etcd: EtcdProcess, tmp_path: Path
) -> None:
    config = build_config({"metadata.store": etcd.url("cfg"), "log.dirs": str(tmp_path)})
    store = await open_store(config)
    try:
        assert isinstance(store, EtcdMetadataStore)
        assert store.prefix == "cfg/"
        await store.compare_and_set("k", 0, {})
        raw = etcd.post("kv/range", {"key": base64.b64encode(b"cfg/k").decode()})
        assert json.loads(base64.b64decode(raw["kvs"][0]["value"])) == {}
    finally:
        await store.aclose()
    local = await open_store(build_config({"log.dirs": str(tmp_path)}))
    assert isinstance(local, LocalMetadataStore)
    await local.aclose()
    with pytest.raises(ConfigError, match="metadata.store"):
        await open_store(build_config({"metadata.store": "etcd://h:1,:2/p"}))
    dead = f"127.0.0.1:{free_port()}"
    with trio.fail_after(10):
        with pytest.raises(ConfigError, match=f"metadata.store: .*{dead}.*cannot connect"):
            await open_store(build_config({"metadata.store": f"etcd://{dead}/p"}))


def test_broker_keeps_its_topics_in_etcd(etcd: EtcdProcess, tmp_path: Path) -> None:
    url = etcd.url(f"broker{time.monotonic_ns()}")
    topic = "etcd-orders"
    broker = BrokerProcess(tmp_path / "broker", settings={"metadata.store": url})
    with broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[
            topic
        ].result(timeout=15)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
        for i in range(20):
            producer.produce(topic, b"v%d" % i, partition=i % 2)
        assert producer.flush(15) == 0

        broker.restart(signal.SIGTERM)
        listed = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
        assert topic in listed.topics and len(listed.topics[topic].partitions) == 2
        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap, "group.id": "g", "enable.auto.commit": False}
        )
        try:
            consumer.assign([TopicPartition(topic, p, 0) for p in range(2)])
            values: list[bytes] = []
            deadline = time.monotonic() + 20
            while len(values) < 20 and time.monotonic() < deadline:
                for message in consumer.consume(100, timeout=0.5):
                    assert message.error() is None, message.error()
                    values.append(message.value())
        finally:
            consumer.close()
        assert sorted(values) == sorted(b"v%d" % i for i in range(20))

    async def stored_topics() -> list[str]:
        store = await EtcdMetadataStore.open(url)
        try:
            return list(await list_topics(store))
        finally:
            await store.aclose()

    # The consumer's group.id makes librdkafka look up a coordinator, which creates the
    # internal offsets topic: it is kept in etcd as well.
    assert set(trio.run(stored_topics)) - {"__consumer_offsets"} == {topic}
    assert not (tmp_path / "broker" / "logs" / "rillet-metadata.json").exists()
