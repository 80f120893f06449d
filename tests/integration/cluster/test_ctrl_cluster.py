"""The control side of a three-broker cluster on a real etcd, seen through Metadata.

Placement spreads leaders evenly and every broker answers the same metadata; a leader killed
with -9 is replaced from the ISR once its lease runs out, with a higher leader epoch; a broker
stopped with SIGTERM hands its leaderships away before it exits cleanly.  These look at
metadata only, so they hold whatever the data path does.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.protocol import ApiKey, ErrorCode

from harness.broker import BrokerProcess
from harness.etcd import EtcdProcess
from harness.wire import WireClient

SESSION_MS = 2000
NODES = (1, 2, 3)
Body = dict[str, Any]


class Cluster:
    """etcd and three brokers on loopback ports (enough of a cluster for these tests)."""

    def __init__(self, root: Path) -> None:
        self.etcd = EtcdProcess(root / "etcd")
        self.brokers: dict[int, BrokerProcess] = {}
        self.root = root

    def start(self) -> Cluster:
        self.etcd.start()
        url = self.etcd.url(f"ctrl{time.monotonic_ns()}")
        for node in NODES:
            self.brokers[node] = BrokerProcess(
                self.root / f"broker{node}",
                settings={
                    "node.id": str(node),
                    "metadata.store": url,
                    "broker.session.timeout.ms": str(SESSION_MS),
                    "default.replication.factor": "3",
                    "offsets.topic.num.partitions": "3",
                    "controlled.shutdown.timeout.ms": "10000",
                },
            )
        for broker in self.brokers.values():
            broker.start()
        wait_until(lambda: len(self.metadata(1, [])["brokers"]) == 3, 15, "three brokers")
        return self

    def metadata(self, node: int, topics: list[str] | None) -> Body:
        """A Metadata v9 answer of broker ``node`` (no auto-creation)."""
        body = {
            "topics": None if topics is None else [{"name": t} for t in topics],
            "allow_auto_topic_creation": False,
        }
        with WireClient(self.brokers[node].port, timeout=10) as client:
            return client.request(ApiKey.METADATA, 9, body)

    def partitions(self, node: int, topic: str) -> dict[int, Body]:
        """The partition entries of ``topic`` as broker ``node`` answers them."""
        answer = self.metadata(node, [topic])
        (entry,) = answer["topics"]
        if entry["error_code"] != ErrorCode.NONE:
            return {}
        return {p["partition_index"]: p for p in entry["partitions"]}

    def create_topic(self, node: int, topic: str, partitions: int, factor: int) -> Body:
        body = {
            "topics": [{"name": topic, "num_partitions": partitions,
                        "replication_factor": factor, "assignments": [], "configs": []}],
            "timeout_ms": 10000,
            "validate_only": False,
        }  # fmt: skip
        with WireClient(self.brokers[node].port, timeout=15) as client:
            return client.request(ApiKey.CREATE_TOPICS, 4, body)["topics"][0]

    def stop(self) -> None:
        for broker in self.brokers.values():
            broker.kill()
        self.etcd.kill()


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, TimeoutError, ConnectionError):
            last = None
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        yield running.start()
    finally:
        running.stop()


def all_led(cluster: Cluster, node: int, topic: str, count: int) -> dict[int, Body] | None:
    found = cluster.partitions(node, topic)
    if len(found) == count and all(p["error_code"] == ErrorCode.NONE for p in found.values()):
        return found
    return None


def test_leaders_spread_evenly_and_every_broker_agrees(cluster: Cluster) -> None:
    created = cluster.create_topic(2, "spread", 6, 3)
    assert created["error_code"] == ErrorCode.NONE, created
    views = {
        node: wait_until(lambda n=node: all_led(cluster, n, "spread", 6), 10, f"broker {node}")
        for node in NODES
    }
    leaders = Counter(p["leader_id"] for p in views[1].values())
    assert leaders == {1: 2, 2: 2, 3: 2}
    for p in views[1].values():
        assert sorted(p["replica_nodes"]) == [1, 2, 3]
        assert p["replica_nodes"][0] == p["leader_id"]
        assert sorted(p["isr_nodes"]) == [1, 2, 3]
    assert views[2] == views[1] and views[3] == views[1]
    answers = [cluster.metadata(node, []) for node in NODES]
    assert {a["controller_id"] for a in answers} <= set(NODES)
    assert len({a["controller_id"] for a in answers}) == 1
    expected = sorted((node, cluster.brokers[node].port) for node in NODES)
    for answer in answers:
        assert sorted((b["node_id"], b["port"]) for b in answer["brokers"]) == expected
    for node in NODES:
        with WireClient(cluster.brokers[node].port) as client:
            described = client.request(
                ApiKey.DESCRIBE_CLUSTER, 0, {"include_cluster_authorized_operations": False}
            )
        assert described["controller_id"] == answers[0]["controller_id"]
        assert sorted((b["broker_id"], b["port"]) for b in described["brokers"]) == expected


def test_a_killed_leader_is_replaced_from_the_isr_with_a_higher_epoch(cluster: Cluster) -> None:
    assert cluster.create_topic(1, "failover", 3, 3)["error_code"] == ErrorCode.NONE
    before = wait_until(lambda: all_led(cluster, 1, "failover", 3), 10, "leaders")
    victim = before[0]["leader_id"]
    survivor = next(n for n in NODES if n != victim)
    cluster.brokers[victim].kill()
    killed_at = time.monotonic()

    def moved() -> dict[int, Body] | None:
        now = all_led(cluster, survivor, "failover", 3)
        if now and all(
            p["leader_id"] != victim and victim not in p["isr_nodes"] for p in now.values()
        ):
            return now
        return None

    after = wait_until(moved, SESSION_MS / 1000 + 8, "new leaders and ISRs without the victim")
    assert time.monotonic() - killed_at < SESSION_MS / 1000 + 8
    for index, old in before.items():
        new = after[index]
        if old["leader_id"] == victim:
            assert new["leader_id"] in old["isr_nodes"]
            assert new["leader_epoch"] > old["leader_epoch"]
        assert victim not in new["isr_nodes"]
    brokers = {b["node_id"] for b in cluster.metadata(survivor, [])["brokers"]}
    assert brokers == set(NODES) - {victim}


def test_sigterm_moves_leadership_away_before_the_broker_exits(cluster: Cluster) -> None:
    assert cluster.create_topic(3, "handover", 3, 3)["error_code"] == ErrorCode.NONE
    before = wait_until(lambda: all_led(cluster, 3, "handover", 3), 10, "leaders")
    leaving = before[0]["leader_id"]
    other = next(n for n in NODES if n != leaving)
    assert cluster.brokers[leaving].stop(signal.SIGTERM) == 0
    # Controlled shutdown finished before the exit: no waiting for the lease to run out.
    after = all_led(cluster, other, "handover", 3)
    assert after is not None
    for index, old in before.items():
        assert after[index]["leader_id"] != leaving
        if old["leader_id"] == leaving:
            assert after[index]["leader_epoch"] > old["leader_epoch"]

    def out_of_isrs() -> bool:
        now = all_led(cluster, other, "handover", 3)
        return now is not None and all(leaving not in p["isr_nodes"] for p in now.values())

    wait_until(out_of_isrs, 5, f"broker {leaving} out of every ISR")
    output = cluster.brokers[leaving].output()
    assert "no movable leadership left" in output


def find_coordinator(cluster: Cluster, node: int, group: str) -> int | None:
    """The coordinator broker ``node`` names for ``group``, or None while there is none."""
    with WireClient(cluster.brokers[node].port, timeout=10) as client:
        answer = client.request(ApiKey.FIND_COORDINATOR, 3, {"key": group, "key_type": 0})
    if answer["error_code"] != ErrorCode.NONE:
        return None
    assert answer["port"] == cluster.brokers[answer["node_id"]].port
    return answer["node_id"]


def commit_offset(cluster: Cluster, node: int, group: str, topic: str, offset: int) -> int:
    body = {
        "group_id": group, "generation_id": -1, "member_id": "", "retention_time_ms": -1,
        "topics": [{"name": topic, "partitions": [
            {"partition_index": 0, "committed_offset": offset, "committed_metadata": ""}]}],
    }  # fmt: skip
    with WireClient(cluster.brokers[node].port, timeout=15) as client:
        answer = client.request(ApiKey.OFFSET_COMMIT, 2, body)
    return answer["topics"][0]["partitions"][0]["error_code"]


def fetch_offset(cluster: Cluster, node: int, group: str, topic: str) -> int | None:
    body = {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}]}
    with WireClient(cluster.brokers[node].port, timeout=15) as client:
        answer = client.request(ApiKey.OFFSET_FETCH, 1, body)
    partition = answer["topics"][0]["partitions"][0]
    return partition["committed_offset"] if partition["error_code"] == ErrorCode.NONE else None


def test_the_group_coordinator_follows_the_offsets_partition_leader(cluster: Cluster) -> None:
    assert cluster.create_topic(1, "tracked", 1, 3)["error_code"] == ErrorCode.NONE
    group = "followers"
    coordinator = wait_until(lambda: find_coordinator(cluster, 1, group), 20, "a coordinator")
    for node in NODES:
        assert wait_until(lambda n=node: find_coordinator(cluster, n, group), 10, "agreement") == (
            coordinator
        )
    other = next(n for n in NODES if n != coordinator)
    assert commit_offset(cluster, other, group, "tracked", 7) == ErrorCode.NOT_COORDINATOR
    wait_until(lambda: commit_offset(cluster, coordinator, group, "tracked", 42) == 0, 10,
               "a commit at the coordinator")  # fmt: skip

    assert cluster.brokers[coordinator].stop(signal.SIGTERM) == 0
    successor = wait_until(lambda: find_coordinator(cluster, other, group), 15, "a successor")
    assert successor != coordinator
    assert wait_until(lambda: fetch_offset(cluster, successor, group, "tracked"), 15,
                      "the committed offset at the successor") == 42  # fmt: skip


def test_a_killed_controller_is_succeeded_and_its_leaderships_move(cluster: Cluster) -> None:
    assert cluster.create_topic(2, "orphaned", 3, 3)["error_code"] == ErrorCode.NONE
    wait_until(lambda: all_led(cluster, 2, "orphaned", 3), 10, "leaders")
    controller = cluster.metadata(1, [])["controller_id"]
    assert controller in NODES
    cluster.brokers[controller].kill()
    survivor = next(n for n in NODES if n != controller)

    def succeeded() -> int | None:
        answer = cluster.metadata(survivor, [])
        return answer["controller_id"] if answer["controller_id"] not in (-1, controller) else None

    successor = wait_until(succeeded, SESSION_MS / 1000 + 8, "a new controller")
    assert successor in set(NODES) - {controller}

    def moved() -> bool:
        now = all_led(cluster, survivor, "orphaned", 3)
        return now is not None and all(p["leader_id"] != controller for p in now.values())

    wait_until(moved, 8, "leaderships off the dead controller")
