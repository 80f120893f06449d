"""Metrics: one small object per subsystem on an injected registry, and the /metrics endpoint.

Subsystem code calls methods such as `ServerMetrics.request_done(...)`; it never imports the
exporter. Every object takes the `CollectorRegistry` to register on, so tests use a fresh
registry and read values back with `registry.get_sample_value(...)`.

The HTTP endpoint is prometheus-client's own threaded server, started by `serve_metrics`.
A scrape renders every series, which for thousands of partitions takes milliseconds of CPU;
in a thread that work never stalls the event loop, and the library's server already handles
HEAD, gzip and content negotiation. prometheus-client's metric values are guarded by locks,
so updates from the event loop and reads from the scrape thread are safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

# Request latency buckets in seconds: sub-millisecond metadata calls up to long-poll fetches.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


class ServerMetrics:
    """Connections, per-API requests/errors/latency, and bytes on the wire."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections_open = Gauge(
            "rillet_server_connections", "Client connections currently open", registry=registry
        )
        self.connections_total = Counter(
            "rillet_server_connections_accepted",
            "Client connections accepted",
            registry=registry,
        )
        self.connections_closed_total = Counter(
            "rillet_server_connections_closed",
            "Client connections closed, by reason",
            ["reason"],
            registry=registry,
        )
        self.requests = Counter(
            "rillet_server_requests", "Requests handled, by API", ["api"], registry=registry
        )
        self.errors = Counter(
            "rillet_server_request_errors",
            "Requests that failed inside the broker (unknown server error or closed), by API",
            ["api"],
            registry=registry,
        )
        self.latency = Histogram(
            "rillet_server_request_latency_seconds",
            "Time from a request's arrival to its response being queued, by API",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.bytes_in = Counter(
            "rillet_server_bytes_received", "Bytes read from client sockets", registry=registry
        )
        self.bytes_out = Counter(
            "rillet_server_bytes_sent", "Bytes written to client sockets", registry=registry
        )
        self._per_api: dict[str, tuple[Counter, Histogram]] = {}

    def connection_opened(self) -> None:
        """A client connection was accepted."""
        self.connections_total.inc()
        self.connections_open.inc()

    def connection_closed(self, reason: str) -> None:
        """A client connection ended; `reason` is a short fixed word (eof, idle, malformed...)."""
        self.connections_open.dec()
        self.connections_closed_total.labels(reason).inc()

    def request_done(self, api: str, seconds: float) -> None:
        """One request of `api` finished after `seconds`."""
        children = self._per_api.get(api)
        if children is None:
            children = (self.requests.labels(api), self.latency.labels(api))
            self._per_api[api] = children
        children[0].inc()
        children[1].observe(seconds)

    def request_failed(self, api: str) -> None:
        """A request of `api` raised inside the broker."""
        self.errors.labels(api).inc()

    def received(self, nbytes: int) -> None:
        """Bytes read from a client."""
        self.bytes_in.inc(nbytes)

    def sent(self, nbytes: int) -> None:
        """Bytes written to a client."""
        self.bytes_out.inc(nbytes)


class LogMetrics:
    """Bytes and records in and out per topic, partition count, size per partition."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bytes_in = Counter(
            "rillet_log_bytes_appended", "Record batch bytes appended", ["topic"], registry=registry
        )
        self.records_in = Counter(
            "rillet_log_records_appended", "Records appended", ["topic"], registry=registry
        )
        self.bytes_out = Counter(
            "rillet_log_bytes_read", "Record batch bytes returned by fetches", ["topic"],
            registry=registry,
        )
        self.records_out = Counter(
            "rillet_log_records_read",
            "Records returned by fetches (counted per batch header)",
            ["topic"],
            registry=registry,
        )
        self.partitions = Gauge(
            "rillet_log_partitions", "Partition logs open on this broker", registry=registry
        )
        self.size = Gauge(
            "rillet_log_size_bytes",
            "Bytes on disk of one partition's segments",
            ["topic", "partition"],
            registry=registry,
        )
        # labels() costs microseconds (argument checks, a lock, a dict keyed by strings);
        # appends call these for every partition of every request, so children are kept.
        self._in: dict[str, tuple[Counter, Counter]] = {}
        self._out: dict[str, tuple[Counter, Counter]] = {}
        self._sizes: dict[tuple[str, int], Gauge] = {}

    def appended(self, topic: str, records: int, nbytes: int) -> None:
        """A batch (or several) of `records` records, `nbytes` long, was appended to `topic`."""
        children = self._in.get(topic)
        if children is None:
            children = self._in[topic] = (
                self.records_in.labels(topic), self.bytes_in.labels(topic)
            )
        children[0].inc(records)
        children[1].inc(nbytes)

    def read(self, topic: str, records: int, nbytes: int) -> None:
        """A fetch returned `records` records in `nbytes` bytes from `topic`."""
        children = self._out.get(topic)
        if children is None:
            children = self._out[topic] = (
                self.records_out.labels(topic), self.bytes_out.labels(topic)
            )
        children[0].inc(records)
        children[1].inc(nbytes)

    def partition_opened(self, topic: str, partition: int, size: int) -> None:
        """A partition log was opened or created with `size` bytes on disk."""
        self.partitions.inc()
        self.partition_size(topic, partition, size)

    def partition_size(self, topic: str, partition: int, size: int) -> None:
        """A partition's size on disk changed (append, roll, retention)."""
        child = self._sizes.get((topic, partition))
        if child is None:
            child = self._sizes[topic, partition] = self.size.labels(topic, str(partition))
        child.set(size)

    def partition_closed(self, topic: str, partition: int) -> None:
        """A partition log was closed or deleted; its series disappear."""
        self.partitions.dec()
        self._sizes.pop((topic, partition), None)
        try:
            self.size.remove(topic, str(partition))
        except KeyError:
            pass


class ReplicaHealth(NamedTuple):
    """One hosted partition as the replica gauges see it."""

    leading: bool
    replicas: int
    in_sync: int
    min_insync: int


class ReplicaMetrics:
    """Leaderships and replication health, counted from the hosted partitions when scraped.

    Only partitions this broker leads are counted (as Kafka's UnderReplicatedPartitions and
    UnderMinIsrPartitionCount do), so summing a cluster's brokers counts each partition once.
    The source is read in the scrape thread: it must return a snapshot, not a live view.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._source: Callable[[], Iterable[ReplicaHealth]] | None = None
        registry.register(self)

    def watch(self, source: Callable[[], Iterable[ReplicaHealth]]) -> None:
        """Count the partitions ``source`` lists at every scrape."""
        self._source = source

    def describe(self) -> list[GaugeMetricFamily]:
        """The families, without samples (for the registry's name check)."""
        return self._families()

    def collect(self) -> list[GaugeMetricFamily]:
        """The families with the counts of the partitions hosted now."""
        leaders = under_replicated = under_min_isr = 0
        for health in self._source() if self._source is not None else ():
            if not health.leading:
                continue
            leaders += 1
            if health.in_sync < health.replicas:
                under_replicated += 1
            if health.in_sync < health.min_insync:
                under_min_isr += 1
        families = self._families()
        for family, count in zip(families, (leaders, under_replicated, under_min_isr)):
            family.add_metric([], count)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "rillet_replica_leader_partitions", "Partitions this broker leads"
            ),
            GaugeMetricFamily(
                "rillet_replica_under_replicated_partitions",
                "Partitions led here whose in-sync replicas are fewer than their replicas",
            ),
            GaugeMetricFamily(
                "rillet_replica_under_min_isr_partitions",
                "Partitions led here whose in-sync replicas are fewer than "
                "min.insync.replicas (acks=all produces to them fail)",
            ),
        ]


class Metrics:
    """Every subsystem's metrics object on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.server = ServerMetrics(self.registry)
        self.log = LogMetrics(self.registry)
        self.replicas = ReplicaMetrics(self.registry)


@contextmanager
def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Iterator[int]:
    """Serve `registry` over HTTP on host:port in a thread; yields the bound port.

    The server thread stops and its socket closes when the block exits.
    """
    httpd, thread = start_http_server(port, addr=host, registry=registry)
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


__all__ = ["LogMetrics", "Metrics", "ServerMetrics", "serve_metrics"]
