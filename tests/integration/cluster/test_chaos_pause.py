"""SIGSTOP: a broker that stops running without dying, the failure a crash test never shows.

A paused follower stops fetching: after ``replica.lag.time.max.ms`` the leader drops it from
the ISR (while its registration still stands), acks=all goes on with the two that are left,
and after SIGCONT it catches up and is taken back.  A paused leader loses its lease: another
replica leads with a higher epoch, and when the old one runs again whatever it was asked to
write, before or after the pause, is never acknowledged with acks=all nor ever readable.
"""

from __future__ import annotations

import time
from pathlib import Path

from client.protocol import ApiKey
from client.records import build_batch
from harness.cluster import (  # noqa: F401 (fixtures)
    ClusterProcesses,
    cluster,
    cluster_etcd,
    consume_values,
    produce_values,
)
from harness.etcd import EtcdProcess
from harness.wire import WireClient, produce_body, produce_partitions

LAG_MS = 3000


def test_paused_follower_leaves_the_isr_and_rejoins(cluster_etcd: EtcdProcess,
                                                     tmp_path: Path) -> None:
    # A lease longer than the lag limit: the follower must leave the ISR because it lags,
    # not because its registration lapsed.
    settings = {"broker.session.timeout.ms": "20000", "replica.lag.time.max.ms": str(LAG_MS)}
    with ClusterProcesses(tmp_path / "cluster", 3, etcd=cluster_etcd, settings=settings) as c:
        try:
            follower_leaves_and_rejoins(c)
        finally:
            c.print_logs()


def follower_leaves_and_rejoins(c: ClusterProcesses) -> None:
    """The follower half of the story, on a cluster whose leases outlast the lag limit."""
    c.wait_members()
    topic = "paused-follower"
    c.create_topic(topic, partitions=1, replication_factor=3,
                   configs={"min.insync.replicas": "2"})
    info = c.wait_isr(topic, 0, 3)
    follower = next(n for n in info.replicas if n != info.leader)

    paused_at = time.monotonic()
    c.sigstop(follower)
    assert produce_values(c, info.leader, topic, [b"during-%d" % i for i in range(5)],
                          acks=1)["error_code"] == 0
    shrunk = c.wait_isr(topic, 0, 2, timeout=20)
    left_after = time.monotonic() - paused_at
    print(f"follower left the ISR {left_after:.1f} s after SIGSTOP")
    assert follower not in shrunk.isr and shrunk.leader == info.leader
    assert left_after >= LAG_MS / 1000 - 1.0, "dropped before it could have lagged that long"
    assert follower in c.members(info.leader), "still registered: it left for lagging"
    # Two in sync are enough for min.insync.replicas=2.
    assert produce_values(c, info.leader, topic, [b"two-%d" % i for i in range(5)],
                          timeout_ms=5000)["error_code"] == 0

    c.sigcont(follower)
    healed = c.wait_isr(topic, 0, 3, timeout=30)
    assert follower in healed.isr and healed.leader == info.leader
    c.wait_for(
        lambda: [r.value for r in c.log_records(follower, topic, 0)]
        == [r.value for r in c.log_records(info.leader, topic, 0)],
        10,
        what="the follower caught up",
    )


def test_paused_leader_is_fenced_and_its_writes_never_committed(
    cluster: ClusterProcesses,
) -> None:
    topic = "paused-leader"
    cluster.create_topic(topic, partitions=1, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    info = cluster.wait_isr(topic, 0, 3)
    old = info.leader
    followers = [n for n in cluster.nodes if n != old]
    committed = [b"committed-%d" % i for i in range(10)]
    assert produce_values(cluster, old, topic, committed)["error_code"] == 0

    zombie = WireClient(cluster.port(old), timeout=30)
    try:
        # Records the leader appends but cannot replicate: the followers are paused (briefly,
        # well inside their lease and the lag limit) while it takes them.
        cluster.isolate(followers)
        unreplicated = [b"unreplicated-%d" % i for i in range(5)]
        zombie.send(ApiKey.PRODUCE, 9,
                    produce_body(topic, {0: build_batch(unreplicated)}, timeout_ms=10_000))
        time.sleep(0.3)
        cluster.sigstop(old)
        for node in followers:
            cluster.sigcont(node)

        paused_at = time.monotonic()
        new = cluster.leader_of(topic, 0, exclude=(old,), min_epoch=info.leader_epoch,
                                timeout=20)
        print(f"new leader {time.monotonic() - paused_at:.1f} s after the leader paused")
        new_epoch = cluster.metadata(topic)[0].leader_epoch
        assert new in followers and new_epoch > info.leader_epoch
        fresh = [b"fresh-%d" % i for i in range(10)]
        assert produce_values(cluster, new, topic, fresh)["error_code"] == 0

        # Writes the old leader only sees once it runs again: acks=all must never succeed;
        # acks=1 may be answered either way (Kafka promises nothing more for it), but its
        # record must never become readable.
        late = [b"late-%d" % i for i in range(5)]
        zombie.send(ApiKey.PRODUCE, 9,
                    produce_body(topic, {0: build_batch(late)}, timeout_ms=10_000))
        zombie.send(ApiKey.PRODUCE, 9, produce_body(
            topic, {0: build_batch([b"late-acks-1"])}, acks=1, timeout_ms=10_000))
        cluster.sigcont(old)
        for acks_all in (True, True, False):
            try:
                _, response = zombie.receive(timeout=20)
            except (ConnectionError, TimeoutError):
                break  # no answer at all is not an acknowledgement either
            entry = produce_partitions(response)[(topic, 0)]
            if acks_all:
                assert entry["error_code"] != 0, f"the fenced leader acknowledged: {entry}"
    finally:
        zombie.close()

    healed = cluster.wait_isr(topic, 0, 3, timeout=30)
    assert healed.leader_epoch >= new_epoch
    values = consume_values(cluster.bootstrap, topic, expect=len(committed) + len(fresh))
    assert values == committed + fresh, values

    def agreed() -> bool:
        logs = [[r.value for r in cluster.log_records(n, topic, 0)] for n in cluster.nodes]
        return all(log == committed + fresh for log in logs)

    cluster.wait_for(agreed, 15, what="every replica dropped the uncommitted writes")
