"""The cluster harness itself: three brokers on one etcd see each other, a replicated topic
gets a full ISR, and pausing, killing and restarting a node change what the harness reports.

The failure tests lean on these answers (who is live, who leads, what a node holds on disk),
so they are checked once here against real processes.
"""

from __future__ import annotations

from client.protocol import ApiKey
from client.records import build_batch
from harness.cluster import ClusterProcesses, cluster, cluster_etcd  # noqa: F401 (fixtures)
from harness.wire import produce_body, produce_partitions


def test_three_brokers_replicate_and_the_harness_follows_them(cluster: ClusterProcesses) -> None:
    assert cluster.live() == [1, 2, 3]
    assert all(cluster.members(node) == {1, 2, 3} for node in cluster.nodes)
    assert cluster.controller() in {1, 2, 3}

    cluster.create_topic("harness", partitions=2, replication_factor=3)
    info = cluster.metadata("harness")
    assert sorted(info) == [0, 1]
    for partition in info.values():
        assert sorted(partition.replicas) == [1, 2, 3] and sorted(partition.isr) == [1, 2, 3]
    leader = cluster.leader_of("harness", 0)
    assert leader == info[0].leader

    with cluster.client(leader) as client:
        response = client.request(
            ApiKey.PRODUCE, 9, produce_body("harness", {0: build_batch([b"a", b"b", b"c"])})
        )
    assert produce_partitions(response)[("harness", 0)]["error_code"] == 0

    # Every replica ends up with the same three records on disk.
    def replicated() -> bool:
        return all(
            [r.value for r in cluster.log_records(n, "harness", 0)] == [b"a", b"b", b"c"]
            for n in cluster.nodes
        )

    cluster.wait_for(replicated, 10, what="records on every replica")

    follower = next(n for n in cluster.nodes if n != leader)
    cluster.sigstop(follower)
    assert follower not in cluster.live() and cluster.running(follower)
    assert set(cluster.views("harness")) == set(cluster.nodes) - {follower}
    cluster.sigcont(follower)
    assert follower in cluster.live()

    cluster.kill(follower)
    assert not cluster.running(follower) and follower not in cluster.live()
    cluster.start_node(follower)
    cluster.wait_members([1, 2, 3])
    cluster.wait_isr("harness", 0, 3)
