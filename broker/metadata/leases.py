"""Leases: keys that live only as long as their owner does, and election on top of them.

A lease is granted with a TTL and kept alive by a task; keys written with it disappear when it
is revoked or when keep-alives stop for the TTL (the owner died or lost the cluster). Their
removal is an ordinary delete that watchers see. The shape, as a broker uses it:

    leases = await open_leases(store)
    async with held_lease(leases, ttl_s=6) as lease:          # grant + keep-alive task
        await leases.put_with_lease(f"brokers/{node_id}", {...}, lease)   # registration
        version = await campaign(store, leases, "controller", {"node_id": node_id}, lease)
        ...  # this broker is the controller; `version` (a store revision) orders controllers

If the lease is lost while the block runs (etcd unreachable for the TTL, or expired), the block
is cancelled and `LeaseExpired` comes out of it inside an ExceptionGroup (`except*
LeaseExpired`): whatever relied on the lease (controller duties) must stop, and the broker
starts over with a new lease. `campaign` waits, as long as it takes, for the key to be free.

Two implementations: `EtcdMetadataStore` is itself a `Leases`; for the local store,
`LocalLeases` gives leases that never expire while the process lives, and at startup deletes
the keys that a previous process wrote with leases (that process is gone, so its leases are).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NoReturn, Protocol, runtime_checkable

import trio

from broker.metadata.store import JsonObject, MetadataError, MetadataStore, WatchLagged


class LeaseExpired(MetadataError):
    """The lease is gone (expired, revoked, or could not be kept alive); its keys are too."""


@runtime_checkable
class Leases(Protocol):
    """Leases over the keys of one MetadataStore."""

    async def grant_lease(self, ttl_s: int) -> int:
        """A new lease lasting `ttl_s` seconds after its last keep-alive; its id."""
        ...

    async def keep_alive(
        self, lease: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Keep the lease alive until cancelled; raise LeaseExpired once it is lost."""
        ...

    async def put_with_lease(self, key: str, value: JsonObject, lease: int) -> int:
        """Write `key` unconditionally, attached to `lease`; its new version."""
        ...

    async def create_with_lease(self, key: str, value: JsonObject, lease: int) -> int | None:
        """Create `key` attached to `lease` if absent; its version, or None if it exists."""
        ...

    async def revoke(self, lease: int) -> None:
        """End the lease now and delete its keys."""
        ...


_local_leases: weakref.WeakKeyDictionary[MetadataStore, LocalLeases] = (
    weakref.WeakKeyDictionary()
)


async def open_leases(store: MetadataStore) -> Leases:
    """The leases of `store`: the store itself if it has them, else one LocalLeases per store."""
    if isinstance(store, Leases):
        return store
    leases = _local_leases.get(store)
    if leases is None:
        leases = await LocalLeases.open(store)
        _local_leases[store] = leases
    return leases


@asynccontextmanager
async def held_lease(leases: Leases, ttl_s: int) -> AsyncIterator[int]:
    """Grant a lease and keep it alive while the block runs; revoke it on the way out.

    Losing the lease cancels the block and raises LeaseExpired (in an ExceptionGroup).
    """
    lease = await leases.grant_lease(ttl_s)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(leases.keep_alive, lease)
            yield lease
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            try:
                await leases.revoke(lease)
            except MetadataError:
                pass  # unreachable store: the lease expires on its own


async def campaign(
    store: MetadataStore, leases: Leases, key: str, value: JsonObject, lease: int
) -> int:
    """Wait until this caller holds `key` (created with `lease`); the version it created.

    The controller-election primitive: every candidate campaigns for the same key, exactly one
    creates it, and the others wait for it to be deleted (its holder's lease ended) and race
    again. Raises LeaseExpired if `lease` is lost meanwhile.
    """
    while True:
        async with store.watch(key) as changes:
            version = await leases.create_with_lease(key, value, lease)
            if version is not None:
                return version
            try:
                async for change in changes:
                    if change.key == key and change.value is None:
                        break
            except WatchLagged:
                pass  # try again from a fresh watch


class LocalLeases:
    """Leases for a single-process store: they last as long as this object (the process).

    Keys written with a lease are recorded under BOOK_KEY before they are written, so the next
    process can delete them at startup (`open`), as etcd would once their TTL ran out.
    """

    BOOK_KEY = "leases/local"

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._next_id = 1
        self._keys: dict[int, set[str]] = {}
        self._revoked: dict[int, trio.Event] = {}

    @classmethod
    async def open(cls, store: MetadataStore) -> LocalLeases:
        """Leases over `store`, after deleting keys left by an earlier process's leases."""
        leases = cls(store)
        book = await store.get(cls.BOOK_KEY)
        if book is not None:
            for key in book.value.get("keys", []):
                await leases._delete(key)
            await store.compare_and_set(cls.BOOK_KEY, book.version, None)
        return leases

    async def grant_lease(self, ttl_s: int) -> int:
        """A new lease; `ttl_s` is ignored, the lease ends with the process or `revoke`."""
        lease = self._next_id
        self._next_id += 1
        self._keys[lease] = set()
        self._revoked[lease] = trio.Event()
        return lease

    async def keep_alive(
        self, lease: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Nothing to refresh: wait until cancelled or the lease is revoked."""
        self._require(lease)
        task_status.started()
        await self._revoked[lease].wait()
        raise LeaseExpired(f"local lease {lease} was revoked")

    async def put_with_lease(self, key: str, value: JsonObject, lease: int) -> int:
        """Write `key` unconditionally for `lease`; its new version."""
        self._require(lease)
        await self._record(key)
        self._keys[lease].add(key)
        while True:
            current = await self._store.get(key)
            if await self._store.compare_and_set(key, current.version if current else 0, value):
                written = await self._store.get(key)
                assert written is not None
                return written.version

    async def create_with_lease(self, key: str, value: JsonObject, lease: int) -> int | None:
        """Create `key` for `lease` if absent; its version, or None if it exists."""
        self._require(lease)
        await self._record(key)
        if not await self._store.compare_and_set(key, 0, value):
            if not any(key in keys for keys in self._keys.values()):
                await self._unrecord(key)
            return None
        self._keys[lease].add(key)
        written = await self._store.get(key)
        assert written is not None
        return written.version

    async def revoke(self, lease: int) -> None:
        """End `lease` and delete its keys."""
        if lease in self._revoked:
            self._revoked.pop(lease).set()
        for key in self._keys.pop(lease, set()):
            await self._delete(key)
            if not any(key in keys for keys in self._keys.values()):
                await self._unrecord(key)

    def _require(self, lease: int) -> None:
        if lease not in self._keys:
            raise LeaseExpired(f"local lease {lease} does not exist (revoked?)")

    async def _delete(self, key: str) -> None:
        while (current := await self._store.get(key)) is not None:
            if await self._store.compare_and_set(key, current.version, None):
                return

    async def _record(self, key: str) -> None:
        await self._edit_book(lambda keys: keys | {key})

    async def _unrecord(self, key: str) -> None:
        await self._edit_book(lambda keys: keys - {key})

    async def _edit_book(self, edit: Callable[[set[str]], set[str]]) -> None:
        while True:
            book = await self._store.get(self.BOOK_KEY)
            keys = set(book.value.get("keys", [])) if book else set()
            new_keys = edit(keys)
            if new_keys == keys:
                return
            value = {"keys": sorted(new_keys)} if new_keys else None
            if await self._store.compare_and_set(
                self.BOOK_KEY, book.version if book else 0, value
            ):
                return
