"""A broker's life in the cluster: registered under a lease, maybe the controller, then gone.

``BrokerMembership.run`` grants a lease, writes this broker's registration with it, tells the
replica manager the registration's version (leaderships from before it lapse), and campaigns
for the ``controller`` key; while it holds the key it runs the controller's duties.  If the
lease is lost (the store was out of reach for the TTL) everything tied to it stops and the
broker registers again with a new lease — to the rest of the cluster, a restart.

``controlled_shutdown`` is the first step of stopping: the registration is rewritten with
``shutting_down``, the controller moves every leadership it can to other in-sync replicas and
takes this broker out of the ISRs, and the call returns once nothing movable is led here any
more (or after ``timeout_s``).  Then the broker stops serving; the lease is revoked last.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import trio

from broker.metadata.leases import LeaseExpired, Leases, campaign, held_lease
from broker.metadata.membership import (
    CONTROLLER_KEY,
    BrokerInfo,
    ClusterView,
    broker_key,
    register,
)
from broker.metadata.store import MetadataError, MetadataStore

log = logging.getLogger("rillet.membership")

RETRY_S = 0.5


class BrokerMembership:
    """Registration, controller campaign and controlled shutdown of one broker."""

    def __init__(
        self,
        store: MetadataStore,
        leases: Leases,
        cluster: ClusterView,
        endpoint: Callable[[], Awaitable[tuple[str, int]]],
        *,
        session_timeout_s: int,
        on_registered: Callable[[int], None],
        controller_duties: Callable[[], Awaitable[None]],
        incarnation: str,
    ) -> None:
        self.store = store
        self.leases = leases
        self.cluster = cluster
        self.node_id = cluster.node_id
        self.endpoint = endpoint
        self.session_timeout_s = session_timeout_s
        self.on_registered = on_registered
        self.controller_duties = controller_duties
        self.incarnation = incarnation
        self.info: BrokerInfo | None = None
        self.lease: int | None = None
        self.is_controller = False
        self.registered = trio.Event()
        self.shutting_down = False

    async def run(self) -> None:
        """Stay registered (and campaign for controller) until cancelled."""
        host, port = await self.endpoint()
        while True:
            try:
                async with held_lease(self.leases, self.session_timeout_s) as lease:
                    self.lease = lease
                    info = BrokerInfo(
                        self.node_id, host, port, self.incarnation, self.shutting_down
                    )
                    self.info = await register(self.leases, info, lease)
                    log.info(
                        "registered as broker %d at %s:%d (version %d)",
                        self.node_id, host, port, self.info.version,
                    )
                    self.on_registered(self.info.version)
                    self.registered.set()
                    await self._campaign(lease)
            except* LeaseExpired as group:
                log.warning("lost the broker lease (%s); registering again", group.exceptions[0])
            except* MetadataError as group:
                log.warning("registration failed (%s); retrying", group.exceptions[0])
            finally:
                self.lease = None
                self.is_controller = False
            await trio.sleep(RETRY_S)

    async def _campaign(self, lease: int) -> None:
        await campaign(self.store, self.leases, CONTROLLER_KEY, {"node_id": self.node_id}, lease)
        self.is_controller = True
        log.info("broker %d is the controller", self.node_id)
        try:
            await self.controller_duties()
        finally:
            self.is_controller = False

    async def controlled_shutdown(
        self,
        movable_leaderships: Callable[[], int],
        wait_progress: Callable[[], Awaitable[None]],
        timeout_s: float,
    ) -> bool:
        """Ask the controller to move leadership away; True once nothing movable is led here.

        ``movable_leaderships()`` counts the partitions led here that another serving in-sync
        replica could take; ``wait_progress()`` returns after the next partition state change.
        """
        self.shutting_down = True
        if self.info is None or self.lease is None:
            return False
        self.info = replace(self.info, shutting_down=True)
        try:
            # The value keeps the registration's first version: this is the same life.
            await self.leases.put_with_lease(
                broker_key(self.node_id), self.info.to_json(), self.lease
            )
        except MetadataError as exc:
            log.warning("controlled shutdown: could not announce it (%s)", exc)
            return False
        log.info("controlled shutdown: waiting for leadership to move")
        with trio.move_on_after(timeout_s):
            while True:
                remaining = movable_leaderships()
                if remaining == 0:
                    log.info("controlled shutdown: no movable leadership left")
                    return True
                await wait_progress()
        log.warning(
            "controlled shutdown: %d leaderships did not move in %.0f s",
            movable_leaderships(), timeout_s,
        )
        return False
