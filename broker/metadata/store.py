"""The MetadataStore interface: a small versioned key-value store with CAS and ordered watches.

This is the shape both backends fill: `local` (a file in the first log directory) and, later,
`etcd` (its v3 JSON gateway). Keys are `/`-separated strings such as `topics/orders` or
`partitions/orders/3`; values are JSON objects.

Versions work like etcd's revisions. The store has one revision counter that every successful
write raises by one; a key's version is the revision of the write that last changed it. So
versions only grow, are never reused (also across restarts), and the version of an absent key
is 0. `compare_and_set(key, expected_version, new)` writes only when the key's version is still
`expected_version`; `new=None` deletes.

Watches: `store.watch(prefix)` registers at once (before its first iteration), then yields
every later change under the prefix in revision order. The usual pattern avoids missing
anything between a read and a watch:

    async with store.watch("partitions/") as changes:
        entries, revision = await store.list("partitions/")
        async for change in changes:
            if change.version <= revision:
                continue  # already in the snapshot
            ...

A watcher that falls too far behind gets `WatchLagged` and must list again.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, NamedTuple

import trio

JsonObject = dict[str, Any]


class MetadataError(Exception):
    """The metadata store cannot do what was asked (I/O failure, corrupt file, closed)."""


class WatchLagged(MetadataError):
    """The watcher fell too far behind; changes were dropped, so it must list again."""


class Versioned(NamedTuple):
    """A value with the version (revision of its last write)."""

    value: JsonObject
    version: int


class Change(NamedTuple):
    """One write as seen by a watcher; `value` is None for a delete."""

    key: str
    value: JsonObject | None
    version: int


class Watch:
    """A registered watch: an async iterator of Changes and an async context manager.

    Leaving the `async with` block (or calling `close`) unregisters it. Iteration ends when the
    store closes.
    """

    def __init__(self, prefix: str, capacity: int, on_close: Any) -> None:
        self.prefix = prefix
        self._send, self._receive = trio.open_memory_channel[Change](capacity)
        self._on_close = on_close
        self._lagged = False

    def deliver(self, change: Change) -> None:
        """Queue a change without blocking; a full queue marks the watch as lagged."""
        if self._lagged:
            return
        try:
            self._send.send_nowait(change)
        except trio.WouldBlock:
            self._lagged = True
            self._send.close()
        except trio.ClosedResourceError:
            pass

    def end(self) -> None:
        """No more changes will come (the store closed)."""
        self._send.close()

    def close(self) -> None:
        """Unregister; iteration ends."""
        self._on_close(self)
        self._send.close()

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._lagged:
                raise WatchLagged(f"watch on {self.prefix!r} fell behind") from None
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MetadataStore(abc.ABC):
    """Versioned JSON values by key, compare-and-set, and ordered watches."""

    @abc.abstractmethod
    async def get(self, key: str) -> Versioned | None:
        """The key's value and version, or None when absent."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> tuple[dict[str, Versioned], int]:
        """Every key starting with `prefix`, and the store revision this snapshot reflects."""

    @abc.abstractmethod
    async def compare_and_set(
        self, key: str, expected_version: int, new: JsonObject | None
    ) -> bool:
        """Write `new` (None = delete) if the key's version is `expected_version` (0 = absent).

        Returns False, changing nothing, when the version differs. Returns True once the write is
        durable and has been delivered to watchers.
        """

    async def compare_and_set_many(
        self, writes: Sequence[tuple[str, int, JsonObject | None]]
    ) -> list[bool]:
        """`compare_and_set` for each `(key, expected_version, new)` in order; the outcomes.

        Each write succeeds or fails on its own (no all-or-nothing).  A backend may make them
        durable together, which is why callers with many keys to write (a topic's partitions)
        use this; this default simply writes them one after another.
        """
        return [await self.compare_and_set(key, expected, new) for key, expected, new in writes]

    @abc.abstractmethod
    def watch(self, prefix: str) -> Watch:
        """Register a watch on keys starting with `prefix`; see the module docstring."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release resources; watches end."""

    async def __aenter__(self) -> MetadataStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
