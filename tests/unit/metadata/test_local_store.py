"""The local metadata backend: persistence across reopen, compare-and-set, watch order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from broker.metadata import (
    LeaderEpochRegression,
    LocalMetadataStore,
    MetadataError,
    PartitionState,
    WatchLagged,
    create_topic,
    delete_topic,
    ensure_cluster_id,
    get_partition,
    get_topic,
    list_topics,
    update_partition,
)
from broker.metadata import local as local_module


async def test_values_and_versions_survive_reopen(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    assert await store.compare_and_set("a/1", 0, {"x": 1})
    assert await store.compare_and_set("a/2", 0, {"x": 2})
    first = await store.get("a/1")
    assert first is not None
    assert await store.compare_and_set("a/1", first.version, {"x": 3})
    before, revision = await store.list("a/")
    await store.aclose()

    reopened = await LocalMetadataStore.open(tmp_path)
    after, reopened_revision = await reopened.list("a/")
    assert after == before
    assert reopened_revision == revision == 3
    assert (await reopened.get("a/1")).value == {"x": 3}  # type: ignore[union-attr]
    # A write after the restart gets a version above every earlier one.
    assert await reopened.compare_and_set("b", 0, {})
    assert (await reopened.get("b")).version == 4  # type: ignore[union-attr]


async def test_no_temporary_file_is_left_and_the_file_is_json(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    await store.compare_and_set("k", 0, {"v": [1, 2]})
    assert sorted(p.name for p in tmp_path.iterdir()) == [local_module.FILE_NAME]
    doc = json.loads((tmp_path / local_module.FILE_NAME).read_text())
    assert doc["entries"]["k"]["value"] == {"v": [1, 2]}


async def test_compare_and_set_conflicts(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    assert await store.compare_and_set("k", 0, {"n": 1})
    assert not await store.compare_and_set("k", 0, {"n": 2}), "create over an existing key"
    current = await store.get("k")
    assert current is not None
    assert not await store.compare_and_set("k", current.version + 1, {"n": 2})
    assert await store.compare_and_set("k", current.version, {"n": 2})
    assert not await store.compare_and_set("k", current.version, {"n": 3}), "stale version"
    assert (await store.get("k")).value == {"n": 2}  # type: ignore[union-attr]
    latest = await store.get("k")
    assert await store.compare_and_set("k", latest.version, None)  # type: ignore[union-attr]
    assert await store.get("k") is None
    assert not await store.compare_and_set("k", 0, None), "deleting an absent key"


async def test_concurrent_writers_one_wins(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    await store.compare_and_set("k", 0, {"n": 0})
    version = (await store.get("k")).version  # type: ignore[union-attr]
    results: list[bool] = []

    async def writer(n: int) -> None:
        results.append(await store.compare_and_set("k", version, {"n": n}))

    async with trio.open_nursery() as nursery:
        for n in range(1, 6):
            nursery.start_soon(writer, n)
    assert sorted(results) == [False] * 4 + [True]


async def test_watch_delivers_changes_in_order_under_its_prefix(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    seen = []
    async with store.watch("p/") as changes:
        await store.compare_and_set("p/a", 0, {"i": 0})
        await store.compare_and_set("other", 0, {"i": -1})
        for i in range(1, 5):
            current = await store.get("p/a")
            assert current is not None
            await store.compare_and_set("p/a", current.version, {"i": i})
        await store.compare_and_set("p/b", 0, {"i": 9})
        current = await store.get("p/a")
        await store.compare_and_set("p/a", current.version, None)  # type: ignore[union-attr]
        await store.aclose()
        async for change in changes:
            seen.append(change)
    assert [(c.key, c.value) for c in seen] == [
        ("p/a", {"i": 0}),
        *[("p/a", {"i": i}) for i in range(1, 5)],
        ("p/b", {"i": 9}),
        ("p/a", None),
    ]
    versions = [c.version for c in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def test_a_watch_that_falls_behind_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "WATCH_CAPACITY", 2)
    store = await LocalMetadataStore.open(tmp_path)
    watch = store.watch("")
    for i in range(3):
        await store.compare_and_set(f"k{i}", 0, {})
    received = []
    with pytest.raises(WatchLagged):
        async for change in watch:
            received.append(change.key)
    assert received == ["k0", "k1"]


async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    await store.aclose()
    with pytest.raises(MetadataError):
        await store.get("k")


async def test_corrupt_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / local_module.FILE_NAME).write_text("{not json")
    with pytest.raises(MetadataError, match="corrupt"):
        await LocalMetadataStore.open(tmp_path)


async def test_topics_partitions_and_cluster_id_survive_restart(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    cluster_id = await ensure_cluster_id(store)
    record = await create_topic(store, "orders", [[1, 2], [2, 1]], {"retention.ms": "1000"})
    assert record is not None and record.partitions == 2
    assert await create_topic(store, "orders", [[1]]) is None
    state, version = await get_partition(store, "orders", 1)  # type: ignore[misc]
    assert (state.leader, state.leader_epoch, state.isr) == (2, 0, (2, 1))
    bumped = PartitionState("orders", 1, state.replicas, 1, state.leader_epoch + 1, (1,))
    assert await update_partition(store, bumped, version)
    assert not await update_partition(store, bumped, version), "stale version"
    await store.aclose()

    store = await LocalMetadataStore.open(tmp_path)
    assert await ensure_cluster_id(store) == cluster_id
    assert await get_topic(store, "orders") == record
    assert list(await list_topics(store)) == ["orders"]
    state, version = await get_partition(store, "orders", 1)  # type: ignore[misc]
    assert state == bumped
    lower = PartitionState("orders", 1, state.replicas, 2, state.leader_epoch - 1, (2,))
    with pytest.raises(LeaderEpochRegression):
        await update_partition(store, lower, version)


async def test_recreated_topic_keeps_epochs_rising(tmp_path: Path) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    await create_topic(store, "t", [[1]])
    assert await delete_topic(store, "t")
    assert await get_topic(store, "t") is None
    assert not await delete_topic(store, "t")
    # A crash between deleting the topic key and its partitions leaves partition keys behind.
    await store.compare_and_set(
        "partitions/t/0", 0, PartitionState("t", 0, (1,), 1, 7, (1,)).to_json()
    )
    await create_topic(store, "t", [[1]])
    state, _ = await get_partition(store, "t", 0)  # type: ignore[misc]
    assert state.leader_epoch == 8


async def test_many_writes_succeed_or_fail_each_and_share_one_file_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    assert await store.compare_and_set("k/taken", 0, {"n": 0})
    written: list[bytes] = []
    real_write = local_module._write_atomically

    def counting_write(path: Path, data: bytes) -> None:
        written.append(data)
        real_write(path, data)

    monkeypatch.setattr(local_module, "_write_atomically", counting_write)
    async with store.watch("k/") as changes:
        outcomes = await store.compare_and_set_many([
            ("k/a", 0, {"n": 1}),
            ("k/taken", 0, {"n": 2}),  # wrong version: fails alone
            ("k/a", 2, {"n": 3}),      # sees the first write of this batch
            ("k/missing", 0, None),    # deleting an absent key fails
            ("k/taken", 1, None),
        ])
        assert outcomes == [True, False, True, False, True]
        assert len(written) == 1
        seen = [await changes.__anext__() for _ in range(3)]
    assert [(c.key, c.value, c.version) for c in seen] == [
        ("k/a", {"n": 1}, 2), ("k/a", {"n": 3}, 3), ("k/taken", None, 4)
    ]
    assert await store.compare_and_set_many([("k/a", 0, {})]) == [False]
    assert len(written) == 1, "nothing to write, no file write"
    await store.aclose()

    reopened = await LocalMetadataStore.open(tmp_path)
    entries, revision = await reopened.list("k/")
    assert revision == 4
    assert entries == {"k/a": ((await reopened.get("k/a")))}
    assert entries["k/a"].value == {"n": 3} and entries["k/a"].version == 3


async def test_a_new_topic_and_its_deletion_are_one_file_write_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await LocalMetadataStore.open(tmp_path)
    writes = 0
    real_write = local_module._write_atomically

    def counting_write(path: Path, data: bytes) -> None:
        nonlocal writes
        writes += 1
        real_write(path, data)

    monkeypatch.setattr(local_module, "_write_atomically", counting_write)
    assert await create_topic(store, "wide", [[1]] * 50) is not None
    assert writes == 2, "the partitions together, then the topic"
    assert await delete_topic(store, "wide")
    assert writes == 4, "the topic, then the partitions together"
    assert await store.list("partitions/wide/") == ({}, 102)
