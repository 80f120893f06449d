"""Who is in the cluster: broker registrations and the controller, both bound to leases.

Keys:

    brokers/<node id>   {"node_id", "host", "port", "incarnation", "shutting_down"}
    controller          {"node_id"}

A broker writes its registration with a lease it keeps alive; when the process dies the lease
runs out and the key disappears, which every watcher sees.  ``incarnation`` is new for every
process start, and the registration's version (the store revision of its write) tells a
partition state written before this process registered from one written after: a state older
than its leader's registration describes a previous life of that broker (see
``broker.metadata.election``).  The controller is whoever created the ``controller`` key with
its lease (``broker.metadata.leases.campaign``); it loses the role with the lease.

``ClusterView`` keeps the registrations and the controller id current from a watch, for
Metadata responses, replica placement and the controller's decisions.  One node without a
cluster store uses ``ClusterView.solo``: itself, always live, always the controller.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import NoReturn

import trio

from broker.metadata.leases import Leases
from broker.metadata.store import JsonObject, MetadataError, MetadataStore

log = logging.getLogger("rillet.membership")

BROKERS_PREFIX = "brokers/"
CONTROLLER_KEY = "controller"


@dataclass(frozen=True)
class BrokerInfo:
    """A live broker as registered: where clients reach it and which process it is."""

    node_id: int
    host: str
    port: int
    incarnation: str = ""
    shutting_down: bool = False
    version: int = 0  # store revision of the registration write

    def to_json(self) -> JsonObject:
        """The stored form.  A rewrite of a registration (``shutting_down``) carries the
        version of the first write, which stays the registration's version."""
        doc: JsonObject = {
            "node_id": self.node_id,
            "host": self.host,
            "port": self.port,
            "incarnation": self.incarnation,
            "shutting_down": self.shutting_down,
        }
        if self.version:
            doc["registered_version"] = self.version
        return doc

    @classmethod
    def from_json(cls, doc: JsonObject, version: int) -> BrokerInfo:
        """Read the stored form written at ``version``."""
        return cls(
            int(doc["node_id"]),
            str(doc["host"]),
            int(doc["port"]),
            str(doc.get("incarnation", "")),
            bool(doc.get("shutting_down", False)),
            int(doc.get("registered_version", version)),
        )


def broker_key(node_id: int) -> str:
    """The store key of a broker's registration."""
    return f"{BROKERS_PREFIX}{node_id}"


def new_incarnation() -> str:
    """An id for this process's registration, different for every start."""
    return uuid.uuid4().hex


async def register(leases: Leases, info: BrokerInfo, lease: int) -> BrokerInfo:
    """Write this broker's registration with ``lease``; it with its version."""
    info = BrokerInfo(info.node_id, info.host, info.port, info.incarnation, info.shutting_down)
    version = await leases.put_with_lease(broker_key(info.node_id), info.to_json(), lease)
    return BrokerInfo(
        info.node_id, info.host, info.port, info.incarnation, info.shutting_down, version
    )


class ClusterView:
    """Live brokers and the controller id, as the store says now (see module docstring)."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.brokers: dict[int, BrokerInfo] = {}
        self.controller_id = -1
        self.solo = False
        self._changed = trio.Event()
        self.loaded = trio.Event()

    @classmethod
    def single(cls, info: BrokerInfo) -> ClusterView:
        """The view of a broker alone: itself, always live, always the controller."""
        view = cls(info.node_id)
        view.brokers = {info.node_id: info}
        view.controller_id = info.node_id
        view.solo = True
        view.loaded.set()
        return view

    def live(self) -> Mapping[int, BrokerInfo]:
        """Registered brokers by node id."""
        return self.brokers

    def serving(self) -> list[int]:
        """Node ids of live brokers that are not shutting down, sorted."""
        return sorted(b.node_id for b in self.brokers.values() if not b.shutting_down)

    def endpoint(self, node_id: int) -> tuple[str, int] | None:
        """(host, port) of a live broker, or None."""
        info = self.brokers.get(node_id)
        return None if info is None else (info.host, info.port)

    async def wait_changed(self) -> None:
        """Return after the next change of brokers or controller."""
        await self._changed.wait()

    def _set(self, brokers: dict[int, BrokerInfo], controller_id: int) -> None:
        if brokers == self.brokers and controller_id == self.controller_id:
            return
        self.brokers = brokers
        self.controller_id = controller_id
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    async def run(
        self, store: MetadataStore, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Follow registrations and the controller key until cancelled (listing on lag)."""
        started = False
        while True:
            try:
                async with store.watch(BROKERS_PREFIX) as brokers_w, store.watch(
                    CONTROLLER_KEY
                ) as controller_w:
                    await self._reload(store)
                    if not started:
                        started = True
                        self.loaded.set()
                        task_status.started()
                    dirty = trio.Semaphore(0)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._follow, brokers_w, dirty)
                        nursery.start_soon(self._follow, controller_w, dirty)
                        while True:
                            await dirty.acquire()
                            while True:  # many changes, one listing
                                try:
                                    dirty.acquire_nowait()
                                except trio.WouldBlock:
                                    break
                            await self._reload(store)
            except* MetadataError as group:
                log.warning("cluster view: %s; listing again", group.exceptions[0])
            await trio.sleep(0.2)

    @staticmethod
    async def _follow(changes: AsyncIterator[object], dirty: trio.Semaphore) -> None:
        # Changes are applied by listing again, in one task: registrations are few, and
        # listings made one after another never put an older view over a newer one.
        async for _ in changes:
            dirty.release()
        raise MetadataError("watch ended")

    async def _reload(self, store: MetadataStore) -> None:
        entries, _ = await store.list(BROKERS_PREFIX)
        brokers = {}
        for entry in entries.values():
            info = BrokerInfo.from_json(entry.value, entry.version)
            brokers[info.node_id] = info
        controller = await store.get(CONTROLLER_KEY)
        controller_id = int(controller.value["node_id"]) if controller is not None else -1
        self._set(brokers, controller_id)
