"""The client's view of a Kafka cluster: connections per broker, metadata, coordinators.

:class:`Cluster` is what producers, consumers and admin clients talk through. It bootstraps
from a list of ``host:port`` addresses, keeps one :class:`BrokerConnection` per broker
(opened on first use, reopened after a failure), caches Metadata and FindCoordinator
answers, and routes requests by node id. It retries nothing by itself except where stated;
the layers above decide what to retry, using :func:`client.network.backoff.retry_until` and
the ``retriable`` / ``invalid_metadata`` flags of :mod:`client.errors`, and call
:meth:`Cluster.request_update` (or :meth:`refresh_metadata`) when an error says the cached
view is stale.

Bootstrap addresses are pseudo-nodes with negative ids (-1, -2, ...), used only until real
broker ids are known, and again if every known broker becomes unreachable.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence

import trio

from client.errors import (
    ClientClosedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,  # type: ignore[attr-defined]
    error_for,
)
from client.network.backoff import Backoff, retry_until
from client.network.connection import BrokerConnection
from client.network.metadata import ClusterMetadata, TopicInfo, merge_metadata_response
from client.network.tasks import TaskGroup
from client.protocol import ApiKey, ErrorCode

__all__ = ["Cluster", "parse_bootstrap_servers"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 9092


def parse_bootstrap_servers(servers: str | Sequence[str]) -> list[tuple[str, int]]:
    """``"a:9092,b:9093"`` or ``["a:9092", "[::1]:9092", "c"]`` -> [(host, port), ...]."""
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    result: list[tuple[str, int]] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        else:
            host, port_text = text, ""
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            raise ValueError(
                f"bootstrap server {item!r}: port {port_text!r} is not a number"
            ) from None
        if not host or not 0 < port < 65536:
            raise ValueError(f"bootstrap server {item!r} is not host:port")
        result.append((host, port))
    if not result:
        raise ValueError("bootstrap_servers names no server")
    return result


class Cluster:
    """Connections, metadata and coordinators for one Kafka cluster.

    Use ``async with Cluster(...) as cluster`` or ``await cluster.start()`` /
    ``await cluster.aclose()``. Times are in milliseconds as in Kafka's client options.
    Background tasks (one reader per connection) run in ``nursery`` when given, else as
    tasks the cluster owns and ends in :meth:`aclose`.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        client_id: str | None = "rillet-python",
        request_timeout_ms: int = 30_000,
        connect_timeout_ms: int = 10_000,
        retry_backoff_ms: int = 100,
        retry_backoff_max_ms: int = 1_000,
        metadata_max_age_ms: int = 300_000,
        max_in_flight_requests_per_connection: int = 5,
        allow_auto_topic_creation: bool = True,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self.bootstrap = parse_bootstrap_servers(bootstrap_servers)
        self.client_id = client_id
        self.request_timeout = request_timeout_ms / 1000
        self.connect_timeout = connect_timeout_ms / 1000
        self.metadata_max_age = metadata_max_age_ms / 1000
        self.max_in_flight = max_in_flight_requests_per_connection
        self.allow_auto_topic_creation = allow_auto_topic_creation
        self.backoff = Backoff(retry_backoff_ms, retry_backoff_max_ms)
        self.tasks = TaskGroup(nursery)
        self._metadata = ClusterMetadata()
        self._conns: dict[int, BrokerConnection] = {}
        self._conn_locks: dict[int, trio.Lock] = {}
        self._extra_addresses: dict[int, tuple[str, int]] = {}
        self._coordinators: dict[tuple[int, str], int] = {}
        self._tracked: set[str] = set()
        self._refresh_lock = trio.Lock()
        self._generation = 0
        self._last_covered: frozenset[str] | None = frozenset()
        self._stale = True
        self._closed = False
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Reach a bootstrap server, negotiate versions and load the first metadata.

        Retries with backoff for up to ``request_timeout_ms``; raises KafkaConnectionError
        (or the broker's error) when no bootstrap server answers in that time.
        """
        if self._started:
            return
        self._started = True
        await retry_until(
            lambda: self.refresh_metadata(force=True),
            deadline=trio.current_time() + self.request_timeout,
            backoff=self.backoff,
        )

    async def aclose(self) -> None:
        """Close every connection and end the background tasks."""
        if self._closed:
            return
        self._closed = True
        conns = list(self._conns.values())
        self._conns.clear()
        with trio.CancelScope(shield=True):
            for conn in conns:
                await conn.aclose()
            await self.tasks.aclose()

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")

    # ------------------------------------------------------------------ connections

    def _address(self, node_id: int) -> tuple[str, int]:
        if node_id < 0:
            index = -1 - node_id
            if index < len(self.bootstrap):
                return self.bootstrap[index]
        broker = self._metadata.brokers.get(node_id)
        if broker is not None:
            return broker.host, broker.port
        extra = self._extra_addresses.get(node_id)
        if extra is not None:
            return extra
        self._stale = True
        raise KafkaConnectionError(f"node {node_id} is not in the cluster metadata")

    async def connection(self, node_id: int) -> BrokerConnection:
        """The open connection to ``node_id``, connecting (and negotiating) if needed."""
        self._check_open()
        conn = self._conns.get(node_id)
        if conn is not None and not conn.closed:
            return conn
        lock = self._conn_locks.setdefault(node_id, trio.Lock())
        async with lock:
            conn = self._conns.get(node_id)
            if conn is not None and not conn.closed:
                return conn
            host, port = self._address(node_id)
            conn = BrokerConnection(
                host,
                port,
                node_id=node_id,
                client_id=self.client_id,
                request_timeout=self.request_timeout,
                connect_timeout=self.connect_timeout,
                max_in_flight=self.max_in_flight,
                tasks=self.tasks,
            )
            try:
                await conn.connect()
            except KafkaConnectionError:
                self._stale = True
                raise
            self._check_open()
            self._conns[node_id] = conn
            return conn

    def connected_nodes(self) -> list[int]:
        """Node ids with a live connection right now."""
        return [n for n, c in self._conns.items() if not c.closed]

    async def request(
        self,
        node_id: int,
        api_key: ApiKey,
        body: dict,
        *,
        version: int | None = None,
        max_version: int | None = None,
        timeout: float | None = None,
        expect_response: bool = True,
    ) -> dict:
        """Send ``body`` to ``node_id`` at the negotiated version (or ``version``, or at most
        ``max_version``) and return the response body. One attempt: connection failures raise
        KafkaConnectionError (and mark metadata stale); error codes in the body are left to
        the caller. ``timeout`` is in seconds (default: request_timeout_ms)."""
        conn = await self.connection(node_id)
        try:
            response = await conn.request(
                api_key,
                body,
                version=version,
                max_version=max_version,
                timeout=timeout,
                expect_response=expect_response,
            )
        except (KafkaConnectionError, KafkaTimeoutError):
            self._stale = True
            raise
        return response if response is not None else {}

    def _candidates(self) -> list[int]:
        live = sorted(
            (c.in_flight, n) for n, c in self._conns.items() if n >= 0 and not c.closed
        )
        nodes = [n for _, n in live]
        others = [n for n in self._metadata.brokers if n not in nodes]
        random.shuffle(others)
        nodes += others
        nodes += [-1 - i for i in range(len(self.bootstrap))]
        return nodes

    async def request_any(
        self,
        api_key: ApiKey,
        body: dict,
        *,
        version: int | None = None,
        max_version: int | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Send to the least loaded reachable broker (known brokers first, then the bootstrap
        servers), trying the next one when a connection fails."""
        self._check_open()
        last: KafkaError | None = None
        for node_id in self._candidates():
            try:
                return await self.request(
                    node_id, api_key, body, version=version, max_version=max_version,
                    timeout=timeout,
                )
            except KafkaConnectionError as exc:
                last = exc
        assert last is not None
        raise last

    async def api_version(self, node_id: int, api_key: ApiKey) -> int:
        """The version of ``api_key`` that requests to ``node_id`` use (connects if needed)."""
        conn = await self.connection(node_id)
        return conn.version_for(api_key)

    # ------------------------------------------------------------------ metadata

    @property
    def metadata(self) -> ClusterMetadata:
        """The latest metadata snapshot (may be stale; see :meth:`refresh_metadata`)."""
        return self._metadata

    def add_topics(self, topics: Iterable[str]) -> None:
        """Include ``topics`` in every future metadata refresh."""
        new = set(topics) - self._tracked
        if new:
            self._tracked |= new
            self._stale = True

    def request_update(self) -> None:
        """Mark the metadata stale: the next lookup refreshes it first."""
        self._stale = True

    def metadata_is_stale(self) -> bool:
        """True when an error asked for a refresh or the snapshot is older than the max age."""
        age = trio.current_time() - self._metadata.updated_at
        return self._stale or age > self.metadata_max_age

    async def refresh_metadata(
        self,
        topics: Iterable[str] | None = None,
        *,
        all_topics: bool = False,
        force: bool = False,
    ) -> ClusterMetadata:
        """Fetch Metadata and return the new snapshot.

        ``topics`` adds those topics to the tracked set and fetches just them; None fetches
        every tracked topic (brokers only if none is tracked); ``all_topics`` fetches every
        topic in the cluster. Concurrent callers share one request: a refresh that started
        after the caller asked and covered its topics satisfies it, unless ``force``.
        """
        self._check_open()
        wanted = None if all_topics else (set(topics) if topics is not None else None)
        if wanted is not None:
            self.add_topics(wanted)
        generation = self._generation
        async with self._refresh_lock:
            if not force and self._generation != generation and not self._stale:
                covered = self._last_covered
                need = wanted if wanted is not None else (None if all_topics else self._tracked)
                if covered is None or (need is not None and need <= covered):
                    return self._metadata
            if all_topics:
                names: list[str] | None = None
            elif wanted is not None:
                names = sorted(wanted)
            else:
                names = sorted(self._tracked)
            self._stale = False
            try:
                response = await self.request_any(ApiKey.METADATA, self._metadata_body(names))
            except BaseException:
                self._stale = True
                raise
            requested = None if names is None else names
            self._metadata = merge_metadata_response(
                self._metadata, response, trio.current_time(), requested
            )
            self._generation += 1
            self._last_covered = None if names is None else frozenset(names)
            self._drop_departed_brokers()
            return self._metadata

    def _metadata_body(self, names: list[str] | None) -> dict:
        return {
            "topics": None if names is None else [{"name": n} for n in names],
            "allow_auto_topic_creation": self.allow_auto_topic_creation,
            "include_cluster_authorized_operations": False,
            "include_topic_authorized_operations": False,
        }

    def _drop_departed_brokers(self) -> None:
        for node_id in list(self._conns):
            if node_id >= 0 and node_id not in self._metadata.brokers and node_id not in (
                self._coordinators.values()
            ):
                conn = self._conns.pop(node_id)
                self.tasks.start_soon(conn.aclose, name="close-departed-broker")

    async def _fresh_metadata(self) -> ClusterMetadata:
        if self.metadata_is_stale():
            return await self.refresh_metadata()
        return self._metadata

    async def topic(self, topic: str, timeout: float | None = None) -> TopicInfo:
        """Metadata of ``topic`` with its partitions, fetching it if not cached.

        Retries while the topic has no partitions yet (being created, or auto-created);
        raises the topic's error (e.g. UnknownTopicOrPartitionError, InvalidTopicError)
        when it persists past ``timeout`` seconds (default request_timeout_ms) or is not
        retriable.
        """
        self._check_open()
        info = self._metadata.topics.get(topic)
        if info is not None and info.partitions and not self.metadata_is_stale():
            return info
        if topic not in self._tracked:
            self.add_topics([topic])

        async def attempt() -> TopicInfo:
            return self._usable_topic(await self._fresh_metadata(), topic)

        return await retry_until(
            attempt,
            deadline=trio.current_time() + (self.request_timeout if timeout is None else timeout),
            backoff=self.backoff,
        )

    def _usable_topic(self, md: ClusterMetadata, topic: str) -> TopicInfo:
        found = md.topics.get(topic)
        if found is not None and found.partitions:
            return found
        self._stale = True
        code = md.topic_errors.get(topic)
        if code is None:
            if found is not None:
                code = found.error_code or ErrorCode.LEADER_NOT_AVAILABLE
            else:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        raise error_for(code, f"topic {topic!r}")

    async def partitions_for(self, topic: str, timeout: float | None = None) -> list[int]:
        """Sorted partition indexes of ``topic`` (see :meth:`topic` for waiting and errors)."""
        return sorted((await self.topic(topic, timeout)).partitions)

    async def leader_for(self, topic: str, partition: int, timeout: float | None = None) -> int:
        """The node id leading ``topic``/``partition``, refreshing metadata until it has one.

        Raises UnknownTopicOrPartitionError for a partition the topic does not have, or
        LeaderNotAvailableError / KafkaTimeoutError when no leader appears in time.
        """
        self._check_open()
        md = self._metadata
        leader = md.leader_for(topic, partition)
        if leader is not None and not self.metadata_is_stale():
            return leader

        if topic not in self._tracked:
            self.add_topics([topic])

        async def attempt() -> int:
            info = self._usable_topic(await self._fresh_metadata(), topic)
            part = info.partitions.get(partition)
            if part is None:
                self._stale = True
                raise UnknownTopicOrPartitionError(f"{topic!r} has no partition {partition}")
            if part.leader < 0:
                self._stale = True
                raise error_for(part.error_code or ErrorCode.LEADER_NOT_AVAILABLE,
                                f"{topic}-{partition}")
            return part.leader

        return await retry_until(
            attempt,
            deadline=trio.current_time() + (self.request_timeout if timeout is None else timeout),
            backoff=self.backoff,
        )

    # ------------------------------------------------------------------ coordinators

    async def coordinator_for(
        self, key: str, key_type: int = 0, timeout: float | None = None
    ) -> int:
        """Node id of the coordinator for a group (``key_type`` 0) or transactional id (1).

        Cached until :meth:`invalidate_coordinator`; retries COORDINATOR_NOT_AVAILABLE and
        other retriable errors with backoff until ``timeout`` seconds pass.
        """
        self._check_open()
        cached = self._coordinators.get((key_type, key))
        if cached is not None:
            return cached

        async def attempt() -> int:
            response = await self.request_any(
                ApiKey.FIND_COORDINATOR, {"key": key, "key_type": key_type}, max_version=3
            )
            code = response["error_code"]
            if code:
                raise error_for(code, response.get("error_message") or f"coordinator for {key!r}")
            node_id = response["node_id"]
            self._extra_addresses[node_id] = (response["host"], response["port"])
            return node_id

        node_id = await retry_until(
            attempt,
            deadline=trio.current_time() + (self.request_timeout if timeout is None else timeout),
            backoff=self.backoff,
        )
        self._coordinators[(key_type, key)] = node_id
        return node_id

    def invalidate_coordinator(self, key: str, key_type: int = 0) -> None:
        """Forget the cached coordinator (after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or
        a connection failure), so the next :meth:`coordinator_for` asks again."""
        self._coordinators.pop((key_type, key), None)

    async def controller(self, timeout: float | None = None) -> int:
        """Node id of the controller (where admin requests go), from fresh metadata."""

        async def attempt() -> int:
            md = await self._fresh_metadata()
            if md.controller_id < 0 or md.controller_id not in md.brokers:
                self._stale = True
                raise KafkaConnectionError("the cluster reports no controller")
            return md.controller_id

        return await retry_until(
            attempt,
            deadline=trio.current_time() + (self.request_timeout if timeout is None else timeout),
            backoff=self.backoff,
        )
