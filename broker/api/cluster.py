"""Cluster mode (``metadata.store`` is etcd): membership, the metadata watch, controlled shutdown.

``start_cluster`` is what ``broker.api.setup`` runs instead of hosting the stored topics once:

* a ``ClusterView`` follows registrations and the controller key;
* the replica manager is attached to the cluster, then a ``MetadataFollower`` applies every
  topic and partition change to it in revision order (and keeps the ``MetadataImage`` that
  Metadata and FindCoordinator answer from);
* ``BrokerMembership`` registers this broker with its advertised endpoint once it listens,
  under a lease of ``broker.session.timeout.ms``, tells the replica manager the registration's
  version, and campaigns for the controller role, running ``ControllerDuties`` while it holds
  it.  It runs in the broker's lasting nursery, so the lease is revoked only after the logs
  are closed;
* on SIGTERM, before the server stops serving, a controlled shutdown hands this broker's
  leaderships to other in-sync replicas (``controlled.shutdown.*``).

Handlers find this through ``cluster_of(state)``, which is None on a single node.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from broker.api.state import BrokerState
from broker.metadata.controller import ControllerDuties
from broker.metadata.image import MetadataFollower, MetadataImage, StateAt
from broker.metadata.leases import open_leases
from broker.metadata.membership import ClusterView, new_incarnation
from broker.metadata.records import PartitionState, TopicRecord
from broker.metadata.registration import BrokerMembership
from broker.metadata.store import MetadataStore
from broker.replication.manager import ReplicaManager

log = logging.getLogger("rillet.cluster")

CLUSTER_KEY = "cluster"
# How long a handler that wrote a topic waits for this broker's watch to apply it.
APPLY_WAIT_S = 5.0


def is_cluster_store(metadata_store: str) -> bool:
    """True when ``metadata.store`` names a shared store: the broker runs as a cluster member."""
    return metadata_store.startswith("etcd://")


@dataclass
class ClusterRuntime:
    """The cluster-mode objects of one broker."""

    store: MetadataStore
    view: ClusterView
    image: MetadataImage
    membership: BrokerMembership

    async def wait_applied(self, revision: int) -> bool:
        """Wait (a little) until this broker has applied the store up to ``revision``."""
        with trio.move_on_after(APPLY_WAIT_S):
            await self.image.wait_revision(revision)
            return True
        return False

    async def wait_member(self) -> bool:
        """Wait (a little) until this broker sees its own registration, so that placement
        counts it; False when it did not come in time."""
        with trio.move_on_after(APPLY_WAIT_S):
            while self.view.node_id not in self.view.live():
                await self.view.wait_changed()
            return True
        return False

    async def wait_gone(self, topic: str) -> bool:
        """Wait (a little) until this broker has applied the deletion of ``topic``."""
        with trio.move_on_after(APPLY_WAIT_S):
            while topic in self.image.topics:
                await self.image.wait_changed()
            return True
        return False


def cluster_of(state: BrokerState) -> ClusterRuntime | None:
    """The cluster runtime, or None when the broker runs alone on the local store."""
    return state.services.extras.get(CLUSTER_KEY)


class ReplicaSink:
    """Hands the follower's changes to the replica manager.

    A replica manager that knows the cluster takes store versions with each state; an older
    one (single-node only) takes states alone.
    """

    def __init__(self, replicas: ReplicaManager) -> None:
        self.replicas = replicas
        self.versioned = hasattr(replicas, "apply_partition")

    def apply_topic(self, record: TopicRecord, states: Mapping[int, StateAt]) -> None:
        """Host a new (or grown) topic."""
        ordered = [states[index] for index in sorted(states)]
        if self.versioned:
            self.replicas.apply_topic(
                record, [s for s, _ in ordered], {s.partition: v for s, v in ordered}
            )
        else:
            self.replicas.apply_topic(record, [s for s, _ in ordered])

    def apply_partition(self, record: TopicRecord, state: PartitionState, version: int) -> None:
        """One partition's new state."""
        if self.versioned:
            self.replicas.apply_partition(record, state, version)  # type: ignore[attr-defined]
        else:
            self.replicas.apply_topic(record, [state])

    def update_topic_config(self, record: TopicRecord) -> None:
        """New config overrides of a topic."""
        self.replicas.update_topic_config(record)

    def remove_topic(self, name: str) -> None:
        """A deleted topic."""
        self.replicas.remove_topic(name)


async def _first_endpoint(services: Any) -> tuple[str, int]:
    await services.listening.wait()
    listener = services.advertised_listeners()[0]
    return listener.host, listener.port


def session_timeout_s(timeout_ms: int) -> int:
    """The registration lease TTL in whole seconds (leases count seconds), at least 2."""
    return max(2, round(timeout_ms / 1000))


def movable_leaderships(image: MetadataImage, view: ClusterView, node_id: int) -> int:
    """Partitions led here whose ISR holds another serving broker that could take over."""
    serving = set(view.serving())
    return sum(
        1
        for state in image.led_by(node_id)
        if any(r != node_id and r in serving for r in state.isr)
    )


async def _wait_either(image: MetadataImage, view: ClusterView) -> None:
    async with trio.open_nursery() as nursery:

        async def wait(waiter: Any) -> None:
            await waiter()
            nursery.cancel_scope.cancel()

        nursery.start_soon(wait, image.wait_changed)
        nursery.start_soon(wait, view.wait_changed)


async def start_cluster(
    state: BrokerState, follow_changes: Any, nursery: trio.Nursery
) -> ClusterRuntime:
    """Join the cluster: view, attached replicas, followed metadata, membership (see module
    docstring).  ``follow_changes`` is called after every applied metadata change."""
    config = state.config
    services = state.services
    store = state.controller.store
    replicas = state.replicas
    view = ClusterView(config.node_id)
    await nursery.start(view.run, store)
    state.controller.cluster = view

    if hasattr(replicas, "attach_cluster"):
        from broker.replication.settings import ReplicationSettings  # type: ignore[import-not-found]

        replicas.attach_cluster(store, view, nursery, ReplicationSettings.from_config(config))

    image = MetadataImage()
    follower = MetadataFollower(store, ReplicaSink(replicas), image, after_change=follow_changes)
    await nursery.start(follower.run)

    def on_registered(version: int) -> None:
        registered = getattr(replicas, "registered", None)
        if registered is not None:
            registered(version)

    async def controller_duties() -> None:
        duties = ControllerDuties(
            store,
            lambda: state.controller.topic_defaults,
            preferred_interval_s=config.leader_imbalance_check_interval_seconds,
            auto_leader_rebalance=config.auto_leader_rebalance_enable,
        )
        await duties.run()

    membership = BrokerMembership(
        store,
        await open_leases(store),
        view,
        lambda: _first_endpoint(services),
        session_timeout_s=session_timeout_s(config.broker_session_timeout_ms),
        on_registered=on_registered,
        controller_duties=controller_duties,
        incarnation=new_incarnation(),
    )
    services.lasting.start_soon(membership.run)
    runtime = ClusterRuntime(store, view, image, membership)
    services.extras[CLUSTER_KEY] = runtime

    async def controlled_shutdown() -> None:
        if not config.controlled_shutdown_enable:
            return
        await membership.controlled_shutdown(
            lambda: movable_leaderships(image, view, config.node_id),
            lambda: _wait_either(image, view),
            config.controlled_shutdown_timeout_ms / 1000,
        )

    services.add_stopping_hook(controlled_shutdown)
    return runtime
