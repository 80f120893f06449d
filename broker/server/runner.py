"""Assemble and run one broker: metadata store, handlers, listeners, metrics, signals, shutdown.

API handlers plug in through `broker.api.setup(registry, services)` (an async function, looked
up when `broker.api` exists): it registers handlers on the registry, may start background
tasks in `services.nursery`, and adds shutdown hooks (flush logs, write checkpoints) with
`services.add_shutdown_hook`. Without `broker.api` the broker answers ApiVersions only.

Shutdown, on the first SIGTERM or SIGINT: run the stopping hooks while still serving (a
cluster member hands its partition leaderships to other brokers there), then stop as
`services.server.request_shutdown()` does: stop accepting, let connections finish what they
already read for up to `shutdown.grace.ms`, cancel background tasks, run shutdown hooks
last-added first, then cancel the lasting tasks (cluster membership, whose lease must outlive
the closing of the logs), close the metadata store. A second signal cancels in-flight work at
once; the hooks still run.
"""

from __future__ import annotations

import importlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import trio

from broker.config import BrokerConfig, Listener
from broker.metadata import MetadataStore, ensure_cluster_id, open_store
from broker.metrics import Metrics, serve_metrics
from broker.server.connection import ConnectionLimits
from broker.server.kafka import HandlerRegistry, KafkaDispatcher, default_registry
from broker.server.server import BrokerServer

log = logging.getLogger("rillet.broker")

ShutdownHook = Callable[[], Awaitable[None]]
ApiSetup = Callable[[HandlerRegistry, "BrokerServices"], Awaitable[None]]


@dataclass
class BrokerServices:
    """What handlers share: passed to `broker.api.setup` and found as `ctx.services`."""

    config: BrokerConfig
    metrics: Metrics
    metadata: MetadataStore
    cluster_id: str
    nursery: trio.Nursery
    server: BrokerServer | None = None
    # Tasks that run until after the shutdown hooks (see the module docstring).
    lasting: trio.Nursery | None = None
    listening: trio.Event = field(default_factory=trio.Event)
    stopping_hooks: list[ShutdownHook] = field(default_factory=list)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
    # Room for what broker.api sets up (log manager, replica manager, coordinator...).
    extras: dict[str, Any] = field(default_factory=dict)

    def add_stopping_hook(self, hook: ShutdownHook) -> None:
        """Run `hook` on a shutdown signal before the server stops serving, in added order."""
        self.stopping_hooks.append(hook)

    def add_shutdown_hook(self, hook: ShutdownHook) -> None:
        """Run `hook` at shutdown, after connections drained; later hooks run first."""
        self.shutdown_hooks.append(hook)

    def advertised_listeners(self) -> list[Listener]:
        """Endpoints for Metadata responses: `advertised.listeners`, else the bound ones with
        a wildcard host replaced by this machine's name."""
        if self.config.advertised_listeners:
            return list(self.config.advertised_listeners)
        bound = self.server.bound if self.server is not None else []
        result = []
        for lst in bound:
            host = lst.host if lst.host not in ("", "0.0.0.0", "::") else socket.getfqdn()
            result.append(Listener(lst.name, host, lst.port))
        return result


def find_api_setup() -> ApiSetup | None:
    """`broker.api.setup` when that package exists."""
    try:
        module = importlib.import_module("broker.api")
    except ModuleNotFoundError as exc:
        if exc.name == "broker.api":
            return None
        raise
    return getattr(module, "setup", None)


async def _stop_gracefully(services: BrokerServices) -> None:
    for hook in services.stopping_hooks:
        try:
            await hook()
        except Exception:
            log.exception("stopping hook %r failed", hook)
    assert services.server is not None
    services.server.request_shutdown()


async def _watch_signals(
    receiver: Any, services: BrokerServices, force: trio.CancelScope
) -> None:
    count = 0
    async for signum in receiver:
        count += 1
        if count == 1:
            log.info("%s received: shutting down", signal.Signals(signum).name)
            services.nursery.start_soon(_stop_gracefully, services)
        else:
            log.warning("%s received again: stopping now", signal.Signals(signum).name)
            force.cancel()
            return


async def run_broker(
    config: BrokerConfig,
    *,
    api_setup: ApiSetup | None = None,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[BrokerServices] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a broker until it is shut down; `task_status` receives the services once listening."""
    metrics = Metrics()
    store = await open_store(config)
    services: BrokerServices | None = None
    try:
        cluster_id = await ensure_cluster_id(store)
        with ExitStack() as stack:
            if config.metrics_address is not None:
                host, port = config.metrics_address
                bound_port = stack.enter_context(serve_metrics(metrics.registry, host, port))
                log.info("metrics on http://%s:%d/metrics", host, bound_port)
            signals = (
                stack.enter_context(trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT))
                if handle_signals
                else None
            )
            async with trio.open_nursery() as lasting:
                async with trio.open_nursery() as nursery:
                    services = BrokerServices(
                        config, metrics, store, cluster_id, nursery, lasting=lasting
                    )
                    registry = default_registry()
                    if api_setup is not None:
                        await api_setup(registry, services)
                    server = BrokerServer(
                        config.listeners,
                        KafkaDispatcher(registry, metrics.server),
                        ConnectionLimits.from_config(config),
                        metrics=metrics.server,
                        services=services,
                        grace_period=config.shutdown_grace_ms / 1000,
                    )
                    services.server = server
                    if signals is not None:
                        nursery.start_soon(
                            _watch_signals, signals, services, nursery.cancel_scope
                        )
                    bound = await nursery.start(server.serve)
                    services.listening.set()
                    log.info(
                        "node %d of cluster %s listening on %s",
                        config.node_id,
                        cluster_id,
                        ", ".join(str(lst) for lst in bound),
                    )
                    task_status.started(services)
                    await server.wait_stopped()
                    nursery.cancel_scope.cancel()
                with trio.CancelScope(shield=True):
                    for hook in reversed(services.shutdown_hooks):
                        try:
                            await hook()
                        except Exception:
                            log.exception("shutdown hook %r failed", hook)
                lasting.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()
    log.info("stopped")
