"""Leader-epoch truncation: a former leader's records that the new leader never had go away.

The leader takes records with acks=1 while its followers are paused (so only it holds them),
then dies.  A follower leads in a new epoch and takes other records at the same offsets.  When
the old leader comes back it must ask where its last epoch ended on the new leader, cut its
log there and copy the rest: afterwards every replica holds the same log, record for record,
and the divergent records (never acknowledged with acks=all) are nowhere.
"""

from __future__ import annotations

from harness.cluster import (  # noqa: F401 (fixtures)
    ClusterProcesses,
    cluster,
    cluster_etcd,
    consume_values,
    produce_values,
)


def test_rejoining_leader_truncates_what_the_new_leader_never_had(
    cluster: ClusterProcesses,
) -> None:
    topic = "divergent"
    cluster.create_topic(topic, partitions=1, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    info = cluster.wait_isr(topic, 0, 3)
    old = info.leader
    followers = [n for n in cluster.nodes if n != old]
    committed = [b"committed-%d" % i for i in range(10)]
    assert produce_values(cluster, old, topic, committed)["error_code"] == 0

    cluster.isolate(followers)
    divergent = [b"divergent-%d" % i for i in range(20)]
    accepted = produce_values(cluster, old, topic, divergent, acks=1)
    cluster.kill(old)
    for node in followers:
        cluster.sigcont(node)
    assert accepted["error_code"] == 0 and accepted["base_offset"] == len(committed)
    held = [r.value for r in cluster.log_records(old, topic, 0)]
    assert held == committed + divergent, "the old leader wrote the divergent records"

    new = cluster.leader_of(topic, 0, exclude=(old,), min_epoch=info.leader_epoch, timeout=20)
    replacing = [b"new-leader-%d" % i for i in range(30)]
    answer = produce_values(cluster, new, topic, replacing)
    assert answer["error_code"] == 0 and answer["base_offset"] == len(committed)

    cluster.start_node(old)
    cluster.wait_isr(topic, 0, 3, timeout=40)

    def identical() -> bool:
        logs = [[(r.offset, r.value) for r in cluster.log_records(n, topic, 0)]
                for n in cluster.nodes]
        return all(log == logs[0] for log in logs)

    cluster.wait_for(identical, 15, what="the old leader's log equals the new leader's")
    rejoined = cluster.log_records(old, topic, 0)
    assert [r.value for r in rejoined] == committed + replacing
    assert [r.offset for r in rejoined] == list(range(len(committed) + len(replacing)))
    assert consume_values(cluster.bootstrap, topic, expect=40) == committed + replacing
