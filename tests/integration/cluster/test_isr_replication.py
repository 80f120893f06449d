"""ISR replication across three real broker processes sharing a real etcd.

RF=3 with ``min.insync.replicas=2``: an acks=all produce is acknowledged once every in-sync
replica holds (and has fsynced) the records, and the three logs are byte-identical; a killed
follower leaves the ISR after ``replica.lag.time.max.ms`` while acks=all keeps working with
two; restarted, it truncates, catches up and rejoins; with two brokers down acks=all is
refused with NOT_ENOUGH_REPLICAS.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client.protocol import ApiKey, ErrorCode
from client.records import build_batch, decode_batches
from harness.broker import BrokerProcess
from harness.etcd import EtcdProcess, etcd  # noqa: F401 (fixture)
from harness.wire import (
    WireClient,
    create_topic,
    fetch_body,
    fetch_partitions,
    produce_body,
    produce_partitions,
)

TOPIC = "replicated"
LAG_MS = 3000
FETCH_WAIT_MS = 200


class Brokers:
    """Three brokers of one cluster (node ids 1, 2, 3)."""

    def __init__(self, root: Path, store_url: str) -> None:
        settings = {
            "metadata.store": store_url,
            "replica.lag.time.max.ms": str(LAG_MS),
            "replica.fetch.wait.max.ms": str(FETCH_WAIT_MS),
            "broker.session.timeout.ms": "4000",
            "default.replication.factor": "3",
        }
        self.nodes = {
            n: BrokerProcess(root / f"b{n}", {**settings, "node.id": str(n)}) for n in (1, 2, 3)
        }

    def start(self) -> None:
        for broker in self.nodes.values():
            broker.start()

    def kill(self) -> None:
        for broker in self.nodes.values():
            broker.kill()

    def any_live(self, exclude: tuple[int, ...] = ()) -> BrokerProcess:
        for node_id, broker in self.nodes.items():
            if node_id not in exclude and broker.process and broker.process.poll() is None:
                return broker
        raise AssertionError("no broker is running")

    def partition(self, exclude: tuple[int, ...] = ()) -> dict:
        """Partition 0's metadata as a live broker tells it."""
        with WireClient(self.any_live(exclude).port) as client:
            response = client.request(ApiKey.METADATA, 9, {
                "topics": [{"name": TOPIC}],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            })
        (topic,) = response["topics"]
        (entry,) = [p for p in topic["partitions"] if p["partition_index"] == 0]
        return entry

    def segment(self, node_id: int) -> bytes:
        path = self.nodes[node_id].data_dir / "logs" / f"{TOPIC}-0" / f"{0:020d}.log"
        return path.read_bytes()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, ValueError, AssertionError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def brokers(tmp_path: Path, etcd: EtcdProcess) -> Iterator[Brokers]:  # noqa: F811
    cluster = Brokers(tmp_path, etcd.url(f"isr{time.monotonic_ns()}"))
    cluster.start()
    try:
        with WireClient(cluster.nodes[1].port) as client:
            wait_until(
                lambda: create_topic(client, TOPIC, 1, {"min.insync.replicas": "2"}, 3)[
                    "error_code"
                ] in (ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS),
                20, "the topic to be created",
            )
        wait_until(lambda: len(cluster.partition()["isr_nodes"]) == 3, 20, "a full ISR")
        yield cluster
    finally:
        cluster.kill()


def produce(
    brokers: Brokers, values: list[bytes], leader: int, timeout_ms: int = 10_000, acks: int = -1
) -> dict:
    with WireClient(brokers.nodes[leader].port, timeout=timeout_ms / 1000 + 10) as client:
        body = produce_body(TOPIC, {0: build_batch(values)}, acks=acks, timeout_ms=timeout_ms)
        response = client.request(ApiKey.PRODUCE, 9, body)
    return produce_partitions(response)[(TOPIC, 0)]


def consume_all(brokers: Brokers, leader: int) -> list[bytes]:
    with WireClient(brokers.nodes[leader].port) as client:
        response = client.request(ApiKey.FETCH, 12, fetch_body({(TOPIC, 0): 0}, max_wait_ms=0))
    entry = fetch_partitions(response)[(TOPIC, 0)]
    assert entry["error_code"] == ErrorCode.NONE
    return [r.value for b in decode_batches(bytes(entry["records"] or b"")) for r in b.records]


def test_acks_all_is_acknowledged_and_every_log_holds_the_same_batches(brokers: Brokers) -> None:
    leader = brokers.partition()["leader_id"]
    for round_ in range(5):
        entry = produce(brokers, [b"r%d-%d" % (round_, i) for i in range(20)], leader)
        assert entry["error_code"] == ErrorCode.NONE, entry
        assert entry["base_offset"] == round_ * 20
    segments = {n: brokers.segment(n) for n in (1, 2, 3)}
    assert segments[1] and segments[1] == segments[2] == segments[3], (
        "acknowledged with acks=all: every in-sync replica has the same bytes"
    )
    assert len(consume_all(brokers, leader)) == 100


def test_a_dead_follower_leaves_the_isr_and_rejoins_after_restart(brokers: Brokers) -> None:
    meta = brokers.partition()
    leader = meta["leader_id"]
    follower, other = [n for n in (1, 2, 3) if n != leader]
    assert produce(brokers, [b"before"], leader)["error_code"] == ErrorCode.NONE
    brokers.nodes[follower].kill()
    wait_until(
        lambda: sorted(brokers.partition(exclude=(follower,))["isr_nodes"])
        == sorted([leader, other]),
        LAG_MS / 1000 + 10, "the ISR to shrink",
    )
    entry = produce(brokers, [b"while-down-%d" % i for i in range(10)], leader)
    assert entry["error_code"] == ErrorCode.NONE, "two in-sync replicas satisfy min.insync=2"
    brokers.nodes[follower].start()
    wait_until(lambda: len(brokers.partition()["isr_nodes"]) == 3, 30, "the follower to rejoin")
    wait_until(lambda: brokers.segment(follower) == brokers.segment(leader), 10, "identical logs")
    assert consume_all(brokers, leader)[0] == b"before"


def test_two_brokers_down_refuses_acks_all(brokers: Brokers) -> None:
    leader = brokers.partition()["leader_id"]
    assert produce(brokers, [b"ok"], leader)["error_code"] == ErrorCode.NONE
    followers = [n for n in (1, 2, 3) if n != leader]
    for node_id in followers:
        brokers.nodes[node_id].kill()
    wait_until(lambda: brokers.partition()["isr_nodes"] == [leader], LAG_MS / 1000 + 10,
               "the ISR to shrink to the leader")
    entry = produce(brokers, [b"refused"], leader)
    assert entry["error_code"] == ErrorCode.NOT_ENOUGH_REPLICAS
    assert consume_all(brokers, leader) == [b"ok"]
    for node_id in followers:
        brokers.nodes[node_id].start()
    wait_until(lambda: len(brokers.partition()["isr_nodes"]) == 3, 30, "the ISR to recover")
    assert produce(brokers, [b"again"], leader)["error_code"] == ErrorCode.NONE


def test_a_killed_leader_is_replaced_and_comes_back_as_a_follower(brokers: Brokers) -> None:
    old = brokers.partition()["leader_id"]
    before = [b"before-%d" % i for i in range(10)]
    assert produce(brokers, before, old)["error_code"] == ErrorCode.NONE
    brokers.nodes[old].kill()
    wait_until(
        lambda: brokers.partition(exclude=(old,))["leader_id"] not in (old, -1),
        20, "a new leader",
    )
    new = brokers.partition(exclude=(old,))["leader_id"]
    after = [b"after-%d" % i for i in range(10)]
    assert produce(brokers, after, new)["error_code"] == ErrorCode.NONE
    brokers.nodes[old].start()
    wait_until(lambda: len(brokers.partition()["isr_nodes"]) == 3, 30, "the old leader to rejoin")
    wait_until(lambda: brokers.segment(old) == brokers.segment(new), 10, "identical logs")
    assert consume_all(brokers, new) == before + after


def test_a_former_leader_truncates_records_nobody_else_got(brokers: Brokers) -> None:
    old = brokers.partition()["leader_id"]
    committed = [b"committed-%d" % i for i in range(5)]
    assert produce(brokers, committed, old)["error_code"] == ErrorCode.NONE
    followers = [n for n in (1, 2, 3) if n != old]
    # Freeze the followers for a moment, far shorter than the lag time and the session:
    # the leader takes records with acks=1 that no follower fetches, then dies.  Waiting
    # out the fetch long-poll first means no follower has a fetch the leader could answer.
    for node_id in followers:
        brokers.nodes[node_id].process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        time.sleep(FETCH_WAIT_MS * 3 / 1000)
        lost = produce(brokers, [b"never-committed"], old, acks=1)
        assert lost["error_code"] == ErrorCode.NONE
        brokers.nodes[old].kill()
    finally:
        for node_id in followers:
            brokers.nodes[node_id].process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
    wait_until(
        lambda: brokers.partition(exclude=(old,))["leader_id"] in followers, 20, "a new leader"
    )
    new = brokers.partition(exclude=(old,))["leader_id"]
    later = [b"later-%d" % i for i in range(5)]
    assert produce(brokers, later, new)["error_code"] == ErrorCode.NONE
    brokers.nodes[old].start()
    wait_until(lambda: len(brokers.partition()["isr_nodes"]) == 3, 30, "the old leader to rejoin")
    wait_until(lambda: brokers.segment(old) == brokers.segment(new), 10, "identical logs")
    assert consume_all(brokers, new) == committed + later
    assert "truncating" in brokers.nodes[old].output()
