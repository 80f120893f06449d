"""A real replicated cluster for tests: one etcd and N broker processes on this machine.

``ClusterProcesses`` starts N brokers (node ids 1..N) that keep their metadata in etcd under a
key prefix of their own, with short failure-detection timeouts so that failover tests stay
short: ``broker.session.timeout.ms`` 2000 (a dead broker's registration lease lapses after
two seconds) and ``replica.lag.time.max.ms`` 3000.  Each node can be stopped the way an
operator (SIGTERM) or a crash (kill -9) would stop it, paused with SIGSTOP and resumed with
SIGCONT, and started again on the same port and data directory.

What the cluster says about a partition comes from the brokers themselves (Metadata v12 over a
raw connection): ``metadata`` asks every broker that is running and not paused and keeps, per
partition, the answer with the highest leader epoch, i.e. the freshest view.  ``leader_of`` and
``wait_isr`` wait until that view shows what a test needs; ``log_records`` reads what a node
holds on disk for one partition, for comparing replicas byte for byte.

The ``cluster`` fixture gives a test three started brokers that all see each other, on an etcd
shared by the test module (``cluster_etcd``).  Import both fixtures into the test module.
"""

from __future__ import annotations

import itertools
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
from confluent_kafka import Consumer, TopicPartition

from client.protocol import ApiKey
from client.records import Record, RecordsError, build_batch, decode_batches
from harness.broker import BrokerProcess
from harness.etcd import EtcdProcess
from harness.wire import WireClient, produce_body, produce_partitions

T = TypeVar("T")

# Error codes the harness reacts to (client.protocol.error_codes has them all).
NONE = 0
NOT_CONTROLLER = 41
TOPIC_ALREADY_EXISTS = 36

#: Settings every broker of a test cluster gets (a test may override any of them).
CLUSTER_SETTINGS: dict[str, str] = {
    "broker.session.timeout.ms": "2000",
    "replica.lag.time.max.ms": "3000",
    # A short follower long-poll: ``isolate`` waits it out.
    "replica.fetch.wait.max.ms": "200",
    "default.replication.factor": "3",
    # Fewer internal partitions: each one is a replicated log the brokers must host.
    "offsets.topic.num.partitions": "3",
    "group.initial.rebalance.delay.ms": "0",
    "controlled.shutdown.timeout.ms": "5000",
}

_prefixes = itertools.count()


class PartitionInfo(NamedTuple):
    """One partition as a broker's Metadata answer describes it."""

    error_code: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


class ClusterProcesses:
    """One etcd (given or of its own) and ``size`` brokers sharing a metadata key prefix."""

    def __init__(
        self,
        root: Path,
        size: int = 3,
        *,
        etcd: EtcdProcess | None = None,
        prefix: str | None = None,
        settings: Mapping[str, str] | None = None,
        node_settings: Mapping[int, Mapping[str, str]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._own_etcd = etcd is None
        self.etcd = etcd if etcd is not None else EtcdProcess(self.root / "etcd")
        self.prefix = prefix or f"cluster-{os.getpid()}-{next(_prefixes)}-{time.monotonic_ns()}"
        self.paused: set[int] = set()
        self.brokers: dict[int, BrokerProcess] = {}
        for node in range(1, size + 1):
            node_config = {
                **CLUSTER_SETTINGS,
                **(settings or {}),
                **((node_settings or {}).get(node, {})),
                "node.id": str(node),
                "metadata.store": self.etcd.url(self.prefix),
            }
            self.brokers[node] = BrokerProcess(self.root / f"broker-{node}", settings=node_config)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def nodes(self) -> list[int]:
        """Every node id, started or not."""
        return sorted(self.brokers)

    @property
    def bootstrap(self) -> str:
        """Every broker's ``host:port``, comma-separated, for a client's bootstrap servers."""
        return ",".join(self.brokers[node].bootstrap for node in self.nodes)

    def port(self, node: int) -> int:
        """The Kafka listener port of ``node``."""
        return self.brokers[node].port

    def start(self, timeout: float = 30.0) -> ClusterProcesses:
        """Start etcd (when it is the cluster's own) and every broker, side by side.

        Returns once every broker answers on its port; ``wait_members`` waits until they
        also see each other.
        """
        if self._own_etcd:
            self.etcd.start()
        with ThreadPoolExecutor(len(self.brokers)) as pool:
            for started in [pool.submit(b.start, timeout) for b in self.brokers.values()]:
                started.result()
        return self

    def running(self, node: int) -> bool:
        """True while the node's process exists (paused or not)."""
        process = self.brokers[node].process
        return process is not None and process.poll() is None

    def live(self) -> list[int]:
        """Nodes that run and are not paused: the ones that can answer."""
        return [n for n in self.nodes if self.running(n) and n not in self.paused]

    def start_node(self, node: int, timeout: float = 30.0) -> None:
        """Start a stopped or killed node again on the same port and data directory."""
        self.brokers[node].start(timeout)

    def stop(self, node: int, timeout: float = 30.0) -> int:
        """SIGTERM (controlled shutdown) and wait for the exit code."""
        if node in self.paused:
            self.sigcont(node)  # a stopped process only acts on SIGTERM once it runs again
        return self.brokers[node].stop(signal.SIGTERM, timeout)

    def kill(self, node: int) -> None:
        """kill -9, as a crash would."""
        self.brokers[node].kill()
        self.paused.discard(node)

    def restart(self, node: int, sig: int = signal.SIGKILL) -> None:
        """Stop with ``sig`` (kill -9 by default), then start on the same port and data."""
        if sig == signal.SIGKILL:
            self.kill(node)
        else:
            self.stop(node)
        self.start_node(node)

    def sigstop(self, node: int) -> None:
        """Pause the node: it keeps its sockets but runs no code (no lease keep-alive)."""
        process = self.brokers[node].process
        assert process is not None and process.poll() is None, f"node {node} is not running"
        process.send_signal(signal.SIGSTOP)
        self.paused.add(node)

    def isolate(self, nodes: list[int]) -> None:
        """Pause ``nodes`` so that no record appended from now on can reach them.

        A follower paused by SIGSTOP may still have a fetch waiting at its leader, and the
        leader would answer it with the next records it appends (the answer waits in the
        paused follower's socket).  So after pausing, this waits out the follower long-poll:
        the leader has answered every waiting fetch, and the paused nodes cannot ask again.
        The pause stays well inside the registration lease.
        """
        for node in nodes:
            self.sigstop(node)
        wait_ms = int(self.brokers[nodes[0]].settings["replica.fetch.wait.max.ms"])
        time.sleep(wait_ms / 1000 * 1.5 + 0.1)

    def sigcont(self, node: int) -> None:
        """Resume a paused node."""
        process = self.brokers[node].process
        assert process is not None, f"node {node} was never started"
        process.send_signal(signal.SIGCONT)
        self.paused.discard(node)

    def close(self) -> None:
        """Kill every broker (paused ones too) and the cluster's own etcd."""
        for node in self.nodes:
            self.kill(node)
        if self._own_etcd:
            self.etcd.kill()

    def output(self, node: int) -> str:
        """Everything ``node`` printed so far (to attach to a failure message)."""
        return self.brokers[node].output()

    def print_logs(self, lines: int = 40) -> None:
        """Print the end of every broker's output (pytest shows it when a test failed)."""
        for node in self.nodes:
            tail = self.output(node).splitlines()[-lines:]
            print(f"----- broker {node}, last {len(tail)} lines -----")
            print("\n".join(tail))

    def __enter__(self) -> ClusterProcesses:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- asking the brokers ----------------------------------------------------------------

    def client(self, node: int, timeout: float = 5.0) -> WireClient:
        """A raw connection to ``node`` (close it, or use it as a context manager)."""
        return WireClient(self.port(node), timeout=timeout, client_id="cluster-harness")

    def request(self, node: int, api_key: int, version: int, body: dict[str, Any],
                timeout: float = 5.0) -> dict[str, Any]:
        """One request to ``node`` on a connection of its own; the decoded response."""
        with self.client(node, timeout) as client:
            return client.request(api_key, version, body, timeout)

    def describe(self, node: int, topics: list[str] | None = None) -> dict[str, Any]:
        """``node``'s Metadata v12 answer (all topics when ``topics`` is None)."""
        body = {
            "topics": None if topics is None else [{"name": t} for t in topics],
            "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": False,
        }
        return self.request(node, ApiKey.METADATA, 12, body, timeout=3.0)

    def views(self, topic: str) -> dict[int, dict[int, PartitionInfo]]:
        """Each answering broker's view of ``topic``: node -> partition -> info."""
        seen: dict[int, dict[int, PartitionInfo]] = {}
        for node in self.live():
            try:
                answer = self.describe(node, [topic])
            except (OSError, TimeoutError, ConnectionError):
                continue  # starting, stopping or unreachable: not a view
            for described in answer["topics"]:
                if described["name"] != topic:
                    continue
                seen[node] = {
                    p["partition_index"]: PartitionInfo(
                        p["error_code"],
                        p["leader_id"],
                        p["leader_epoch"],
                        tuple(p["replica_nodes"]),
                        tuple(p["isr_nodes"]),
                    )
                    for p in described["partitions"]
                }
        return seen

    def metadata(self, topic: str) -> dict[int, PartitionInfo]:
        """Per partition, the freshest answer among the live brokers (highest leader epoch)."""
        merged: dict[int, PartitionInfo] = {}
        for view in self.views(topic).values():
            for index, info in view.items():
                best = merged.get(index)
                if best is None or (info.leader_epoch, info.error_code == NONE) > (
                    best.leader_epoch,
                    best.error_code == NONE,
                ):
                    merged[index] = info
        return merged

    def members(self, node: int) -> set[int]:
        """The brokers ``node`` lists in its Metadata answer."""
        return {b["node_id"] for b in self.describe(node, [])["brokers"]}

    def controller(self) -> int:
        """The controller id the live brokers report (the first that answers)."""
        for node in self.live():
            try:
                return self.describe(node, [])["controller_id"]
            except (OSError, TimeoutError, ConnectionError):
                continue
        raise RuntimeError("no broker answers")

    def find_coordinator(self, group: str, via: int | None = None) -> tuple[int, int]:
        """FindCoordinator v2 for ``group``, asked of ``via`` or the first live broker that
        answers; returns (error code, coordinator node id)."""
        for node in [via] if via is not None else self.live():
            try:
                answer = self.request(node, ApiKey.FIND_COORDINATOR, 2,
                                      {"key": group, "key_type": 0})
            except (OSError, TimeoutError, ConnectionError):
                continue
            return answer["error_code"], answer["node_id"]
        raise RuntimeError("no broker answers FindCoordinator")

    # -- waiting ---------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.1,
                 what: str = "condition") -> T:
        """Call ``predicate`` until it returns something true; return that.

        Exceptions it raises count as "not yet"; on timeout the last one is chained to the
        TimeoutError, which names ``what`` and how long it waited.
        """
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except (OSError, TimeoutError, ConnectionError, KeyError, AssertionError) as error:
                last_error = error
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what}: not reached within {timeout} s") from last_error
            time.sleep(interval)

    def wait_members(self, nodes: list[int] | None = None, timeout: float = 30.0) -> None:
        """Wait until every node in ``nodes`` (default: the live ones) lists all of them."""
        expected = set(nodes if nodes is not None else self.live())
        self.wait_for(
            lambda: all(self.members(n) >= expected for n in expected),
            timeout,
            what=f"brokers {sorted(expected)} registered and seen by each other",
        )

    def leader_of(self, topic: str, partition: int = 0, *, timeout: float = 20.0,
                  min_epoch: int = -1, exclude: tuple[int, ...] = ()) -> int:
        """The partition's leader once it is a live broker with an epoch above ``min_epoch``
        that is not in ``exclude``."""

        def found() -> int | None:
            info = self.metadata(topic).get(partition)
            if (
                info is not None
                and info.error_code == NONE
                and info.leader in self.live()
                and info.leader not in exclude
                and info.leader_epoch > min_epoch
            ):
                return info.leader
            return None

        return self.wait_for(found, timeout, what=f"a live leader of {topic}-{partition}")

    def wait_isr(self, topic: str, partition: int = 0, size: int = 3,
                 timeout: float = 30.0) -> PartitionInfo:
        """Wait until the partition has a live leader and an ISR of exactly ``size``."""

        def found() -> PartitionInfo | None:
            info = self.metadata(topic).get(partition)
            if (
                info is not None
                and info.error_code == NONE
                and info.leader in self.live()
                and len(info.isr) == size
            ):
                return info
            return None

        return self.wait_for(found, timeout, what=f"ISR of {topic}-{partition} at {size}")

    # -- topics ----------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 3,
                     configs: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        """Create a topic through the controller and wait until every partition has a live
        leader and a full ISR."""
        body = {
            "topics": [
                {
                    "name": name,
                    "num_partitions": partitions,
                    "replication_factor": replication_factor,
                    "assignments": [],
                    "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()],
                }
            ],
            "timeout_ms": 10_000,
            "validate_only": False,
        }

        def created() -> bool:
            node = self.controller()
            if node not in self.live():
                node = self.live()[0]
            (result,) = self.request(node, ApiKey.CREATE_TOPICS, 4, body, timeout=15)["topics"]
            if result["error_code"] == NOT_CONTROLLER:
                return False
            assert result["error_code"] in (NONE, TOPIC_ALREADY_EXISTS), result
            return True

        self.wait_for(created, timeout, interval=0.5, what=f"topic {name} created")
        for index in range(partitions):
            self.wait_isr(name, index, replication_factor, timeout)

    # -- what a node holds on disk ---------------------------------------------------------

    def log_dir(self, node: int, topic: str, partition: int) -> Path:
        """The directory of one partition's log on ``node``."""
        return self.brokers[node].data_dir / "logs" / f"{topic}-{partition}"

    def log_records(self, node: int, topic: str, partition: int) -> list[Record]:
        """Every record ``node`` holds for the partition, read from its segment files.

        Meant for a node that is stopped or quiet; a batch still being written at the end of
        the active segment is left out.
        """
        records: list[Record] = []
        for segment in sorted(self.log_dir(node, topic, partition).glob("*.log")):
            records.extend(_segment_records(segment.read_bytes()))
        return records


def _segment_records(data: bytes) -> Iterator[Record]:
    """The records of every whole, valid batch in a segment file's bytes, in order."""
    position = 0
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">i", data, position + 8)
        end = position + 12 + length
        if length <= 0 or end > len(data):
            return
        try:
            batches = decode_batches(data[position:end])
        except RecordsError:
            return
        for batch in batches:
            if not batch.is_control:
                yield from batch.records
        position = end


@pytest.fixture(scope="module")
def cluster_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """One etcd member for a test module's clusters (each cluster has its own key prefix)."""
    with EtcdProcess(tmp_path_factory.mktemp("cluster-etcd")) as process:
        yield process


@pytest.fixture
def cluster(cluster_etcd: EtcdProcess, tmp_path: Path) -> Iterator[ClusterProcesses]:
    """Three started brokers that see each other, on the module's etcd."""
    processes = ClusterProcesses(tmp_path / "cluster", 3, etcd=cluster_etcd)
    with processes:
        try:
            processes.wait_members()
            yield processes
        finally:
            processes.print_logs()


# -- helpers the failure tests share -------------------------------------------------------


def produce_values(
    cluster: ClusterProcesses,
    node: int,
    topic: str,
    values: list[bytes],
    *,
    acks: int = -1,
    partition: int = 0,
    timeout_ms: int = 10_000,
) -> dict[str, Any]:
    """Send ``values`` as one batch to ``node`` with a raw Produce v9; the partition's entry
    of the response (``error_code``, ``base_offset``, ...)."""
    body = produce_body(topic, {partition: build_batch(values)}, acks=acks, timeout_ms=timeout_ms)
    with cluster.client(node, timeout=timeout_ms / 1000 + 5) as client:
        response = client.request(ApiKey.PRODUCE, 9, body)
    return produce_partitions(response)[(topic, partition)]


def consume_values(bootstrap: str, topic: str, partitions: int = 1, *, expect: int = 0,
                   timeout: float = 30.0, idle: float = 2.0) -> list[bytes]:
    """Every value of ``topic`` from offset 0 of each partition, read with a confluent-kafka
    consumer through assign (no group), in the order they arrive.

    Reads until at least ``expect`` values came and then nothing new for ``idle`` seconds, or
    until ``timeout``.
    """
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"reader-{time.monotonic_ns()}",
        "enable.auto.commit": False,
        "topic.metadata.refresh.interval.ms": 1000,
    })
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(500, timeout=0.2)
            for message in batch:
                if message.error() is None:
                    values.append(message.value())
                    last_new = time.monotonic()
            if len(values) >= expect and time.monotonic() - last_new >= idle:
                break
    finally:
        consumer.close()
    return values
