"""An in-memory MetadataStore with leases, timed by the trio clock: for simulations and tests.

It behaves like the etcd backend where replication cares: one revision counter gives every
write a version, compare-and-set and ordered watches work as the interface says, and a key
written with a lease disappears (an ordinary delete that watchers see) once the lease has not
been kept alive for its TTL.  Time is ``trio.current_time()``, so under ``trio.testing.MockClock``
lease expiry is deterministic.  Nothing is persisted: the store lives as long as the object,
which in a simulation outlives every simulated broker process.

Lease expiry needs a task: run ``store.run_expiry()`` in a nursery (or call
``expire_leases()`` by hand).
"""

from __future__ import annotations

import copy
import itertools
from typing import NoReturn

import trio

from broker.metadata.leases import LeaseExpired
from broker.metadata.store import (
    Change,
    JsonObject,
    MetadataError,
    MetadataStore,
    Versioned,
    Watch,
)

WATCH_CAPACITY = 10_000


class MemoryMetadataStore(MetadataStore):
    """MetadataStore and leases in process memory (see module docstring)."""

    def __init__(self) -> None:
        self._revision = 0
        self._entries: dict[str, Versioned] = {}
        self._watches: list[Watch] = []
        self._closed = False
        self._lease_ids = itertools.count(1)
        self._leases: dict[int, tuple[float, float]] = {}  # id -> (ttl s, expires at)
        self._lease_keys: dict[int, set[str]] = {}
        self._key_lease: dict[str, int] = {}
        self._lease_changed = trio.Event()
        self.unavailable = False  # set by a test: every call raises MetadataError

    @property
    def revision(self) -> int:
        """The revision of the last write."""
        return self._revision

    async def get(self, key: str) -> Versioned | None:
        """The key's value and version, or None when absent."""
        await self._enter()
        return self._entries.get(key)

    async def list(self, prefix: str) -> tuple[dict[str, Versioned], int]:
        """Every key under ``prefix`` and the revision of this snapshot."""
        await self._enter()
        return {k: v for k, v in self._entries.items() if k.startswith(prefix)}, self._revision

    async def compare_and_set(
        self, key: str, expected_version: int, new: JsonObject | None
    ) -> bool:
        """Write or delete ``key`` if its version is ``expected_version``; detaches any lease."""
        await self._enter()
        current = self._entries.get(key)
        if (current.version if current else 0) != expected_version:
            return False
        if new is None and current is None:
            return False
        self._detach(key)
        self._write(key, new)
        return True

    def watch(self, prefix: str) -> Watch:
        """Register a watch on keys starting with ``prefix``."""
        if self._closed:
            raise MetadataError("the metadata store is closed")
        watch = Watch(prefix, WATCH_CAPACITY, self._unregister)
        self._watches.append(watch)
        return watch

    async def aclose(self) -> None:
        """End every watch; later calls raise MetadataError."""
        self._closed = True
        for watch in self._watches:
            watch.end()
        self._watches.clear()

    # -- leases (the shape the etcd backend offers) -------------------------------------------

    async def grant_lease(self, ttl_s: int) -> int:
        """A lease that ends ``ttl_s`` seconds after its last keep-alive; its id."""
        await self._enter()
        lease = next(self._lease_ids)
        self._leases[lease] = (float(ttl_s), trio.current_time() + ttl_s)
        self._lease_keys[lease] = set()
        self._lease_changed.set()
        return lease

    async def keep_alive(
        self, lease: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Refresh ``lease`` every third of its TTL until cancelled; LeaseExpired once gone."""
        started = False
        while True:
            ttl = self.refresh(lease)
            if not started:
                started = True
                task_status.started()
            await trio.sleep(ttl / 3)

    def refresh(self, lease: int) -> float:
        """One keep-alive: the lease lives another TTL from now (unless the store is
        unavailable); its TTL.  LeaseExpired when it is gone."""
        if lease not in self._leases:
            raise LeaseExpired(f"lease {lease} has expired")
        ttl, expires = self._leases[lease]
        if not self.unavailable:
            self._leases[lease] = (ttl, max(expires, trio.current_time() + ttl))
        return ttl

    async def put_with_lease(self, key: str, value: JsonObject, lease: int) -> int:
        """Write ``key`` attached to ``lease``; its new version.  LeaseExpired if it is gone."""
        await self._enter()
        self._require(lease)
        self._detach(key)
        self._write(key, value)
        self._attach(key, lease)
        return self._revision

    async def create_with_lease(self, key: str, value: JsonObject, lease: int) -> int | None:
        """Create ``key`` attached to ``lease`` if absent; its version, or None if it exists."""
        await self._enter()
        self._require(lease)
        if key in self._entries:
            return None
        self._write(key, value)
        self._attach(key, lease)
        return self._revision

    async def revoke(self, lease: int) -> None:
        """End ``lease`` now and delete its keys."""
        await self._enter()
        self._end_lease(lease)

    def expire_leases(self) -> None:
        """End every lease whose TTL ran out (what ``run_expiry`` does on time)."""
        now = trio.current_time()
        for lease, (_, expires) in list(self._leases.items()):
            if expires <= now:
                self._end_lease(lease)

    async def run_expiry(self) -> NoReturn:
        """Expire leases on time, until cancelled."""
        while True:
            self.expire_leases()
            self._lease_changed = trio.Event()
            if self._leases:
                deadline = min(expires for _, expires in self._leases.values())
                with trio.move_on_at(deadline):
                    await self._lease_changed.wait()
            else:
                await self._lease_changed.wait()

    # -- internals --------------------------------------------------------------------------

    async def _enter(self) -> None:
        # Every call is a scheduling point, as a network round trip would be.
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise MetadataError("the metadata store is closed")
        if self.unavailable:
            raise MetadataError("the metadata store is unavailable")

    def _require(self, lease: int) -> None:
        if lease not in self._leases:
            raise LeaseExpired(f"lease {lease} does not exist")

    def _write(self, key: str, new: JsonObject | None) -> None:
        self._revision += 1
        if new is None:
            del self._entries[key]
            value = None
        else:
            value = copy.deepcopy(new)
            self._entries[key] = Versioned(value, self._revision)
        change = Change(key, copy.deepcopy(value), self._revision)
        for watch in list(self._watches):
            if key.startswith(watch.prefix):
                watch.deliver(change)

    def _attach(self, key: str, lease: int) -> None:
        self._lease_keys[lease].add(key)
        self._key_lease[key] = lease

    def _detach(self, key: str) -> None:
        lease = self._key_lease.pop(key, None)
        if lease is not None:
            self._lease_keys[lease].discard(key)

    def _end_lease(self, lease: int) -> None:
        self._leases.pop(lease, None)
        for key in sorted(self._lease_keys.pop(lease, set())):
            self._key_lease.pop(key, None)
            if key in self._entries:
                self._write(key, None)

    def _unregister(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)
