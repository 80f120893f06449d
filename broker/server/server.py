"""The listening side: accept loops for every listener, connection ownership, graceful stop.

`BrokerServer.serve` owns two nurseries: the outer one holds every connection task, the inner
one the accept loops. Stopping (`request_shutdown`) cancels the accept loops and closes the
listening sockets, asks every connection to drain (stop reading, finish and write what was
already read), waits up to the grace period, then cancels whatever is left and returns.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

import trio

from broker.config import Listener
from broker.metrics import ServerMetrics
from broker.server.connection import Connection, ConnectionLimits, next_connection_id
from broker.server.context import ConnectionInfo
from broker.server.dispatch import Dispatcher

log = logging.getLogger("rillet.server")

# accept() failures that mean "out of resources for now", worth a pause rather than a crash.
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPT_RETRY_PAUSE = 0.1


def _peer_name(stream: trio.SocketStream) -> str:
    try:
        address = stream.socket.getpeername()
    except OSError:
        return "unknown"
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


class BrokerServer:
    """Accepts client connections on the configured listeners and serves them."""

    def __init__(
        self,
        listeners: Sequence[Listener],
        dispatcher: Dispatcher,
        limits: ConnectionLimits,
        *,
        metrics: ServerMetrics | None = None,
        services: Any = None,
        grace_period: float = 10.0,
    ) -> None:
        self.listeners = tuple(listeners)
        self.bound: list[Listener] = []
        self._dispatcher = dispatcher
        self._limits = limits
        self._metrics = metrics
        self._services = services
        self._grace_period = grace_period
        self._connections: set[Connection] = set()
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self._all_closed = trio.Event()

    @property
    def connections(self) -> frozenset[Connection]:
        """The connections open now."""
        return frozenset(self._connections)

    def request_shutdown(self) -> None:
        """Begin a graceful stop; `serve` returns when it is done. Safe to call twice."""
        self._stop.set()

    async def wait_stopped(self) -> None:
        """Wait until `serve` has stopped everything."""
        await self._stopped.wait()

    async def serve(
        self, *, task_status: trio.TaskStatus[list[Listener]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind every listener, report the bound endpoints, serve until shutdown completes."""
        try:
            async with trio.open_nursery() as connections:
                sockets = await self._bind()
                async with trio.open_nursery() as acceptors:
                    for listener, socket_listener in sockets:
                        acceptors.start_soon(
                            self._accept_loop, listener, socket_listener, connections
                        )
                    task_status.started(list(self.bound))
                    await self._stop.wait()
                    acceptors.cancel_scope.cancel()
                for _listener, socket_listener in sockets:
                    await socket_listener.aclose()
                await self._drain(connections)
        finally:
            self._stopped.set()

    async def _bind(self) -> list[tuple[Listener, trio.SocketListener]]:
        bound: list[tuple[Listener, trio.SocketListener]] = []
        try:
            for listener in self.listeners:
                host = listener.host or None
                for sock in await trio.open_tcp_listeners(listener.port, host=host):
                    address = sock.socket.getsockname()
                    actual = Listener(listener.name, listener.host, address[1])
                    bound.append((actual, sock))
                    if actual not in self.bound:
                        self.bound.append(actual)
        except BaseException:
            for _listener, sock in bound:
                await sock.aclose()
            raise
        return bound

    async def _drain(self, connections: trio.Nursery) -> None:
        for conn in list(self._connections):
            conn.drain()
        with trio.move_on_after(self._grace_period):
            if self._connections:
                await self._all_closed.wait()
        if self._connections:
            log.warning(
                "%d connection(s) still busy after %g s; closing them",
                len(self._connections),
                self._grace_period,
            )
        connections.cancel_scope.cancel()

    async def _accept_loop(
        self, listener: Listener, socket_listener: trio.SocketListener, connections: trio.Nursery
    ) -> None:
        while True:
            try:
                stream = await socket_listener.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_RETRY_ERRNOS:
                    log.warning("accept on %s failed (%s); retrying", listener, exc.strerror)
                    await trio.sleep(_ACCEPT_RETRY_PAUSE)
                    continue
                raise
            info = ConnectionInfo(next_connection_id(), _peer_name(stream), listener.name)
            conn = Connection(
                stream, info, self._dispatcher, self._limits, self._metrics, self._services
            )
            self._connections.add(conn)
            self._all_closed = trio.Event()
            connections.start_soon(self._serve_connection, conn)

    async def _serve_connection(self, conn: Connection) -> None:
        try:
            await conn.run()
        except Exception:
            # Connection.run handles its own failures; reaching here is a bug in it, which
            # must still not take the other connections down.
            log.exception("connection %d from %s failed", conn.info.id, conn.info.peer)
        finally:
            self._connections.discard(conn)
            if not self._connections:
                self._all_closed.set()
