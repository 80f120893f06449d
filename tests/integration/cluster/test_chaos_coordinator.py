"""A consumer group outlives the broker that coordinates it.

The coordinator of a group is the leader of one ``__consumer_offsets`` partition; committed
offsets are records in that replicated partition.  kill -9 that broker: a new leader of the
partition must become the coordinator, load the group's offsets and serve them, so no offset
committed before the kill goes back, and the consumer goes on committing.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from harness.cluster import (  # noqa: F401 (fixtures)
    ClusterProcesses,
    cluster,
    cluster_etcd,
    produce_values,
)

PARTITIONS = 3
PER_PARTITION = 100


def committed_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    """The group's committed offsets for every partition of ``topic`` (-1001 = none)."""
    asked = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    return {tp.partition: tp.offset for tp in consumer.committed(asked, timeout=15)}


def group_consumer(bootstrap: str, group: str) -> Consumer:
    """A librdkafka group member that commits only when told."""
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 1000,
    })


def consume(consumer: Consumer, count: int, timeout: float) -> int:
    """Read up to ``count`` records (errors aside); how many came."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        for message in consumer.consume(count - got, timeout=0.2):
            if message.error() is None:
                got += 1
    return got


def consume_to_end(consumer: Consumer, topic: str, timeout: float) -> dict[int, int]:
    """Read until the member's position is at the end of every partition; the positions."""
    deadline = time.monotonic() + timeout
    positions: dict[int, int] = {}
    while time.monotonic() < deadline:
        consumer.consume(500, timeout=0.2)
        assigned = consumer.assignment()
        if len(assigned) == PARTITIONS:
            positions = {tp.partition: tp.offset for tp in consumer.position(assigned)}
            if all(offset == PER_PARTITION for offset in positions.values()):
                break
    return positions


def commit_until_done(consumer: Consumer, timeout: float) -> list[TopicPartition]:
    """Commit the current positions synchronously, retrying while the group moves."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.commit(asynchronous=False)
        except KafkaException:
            if time.monotonic() >= deadline:
                raise
            consumer.poll(0.2)


def test_committed_offsets_survive_the_coordinators_death(cluster: ClusterProcesses) -> None:
    topic = "group-input"
    group = "survivors"
    cluster.create_topic(topic, partitions=PARTITIONS, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    for p in range(PARTITIONS):
        leader = cluster.leader_of(topic, p)
        values = [b"%d-%d" % (p, i) for i in range(PER_PARTITION)]
        assert produce_values(cluster, leader, topic, values, partition=p)["error_code"] == 0

    consumer = group_consumer(cluster.bootstrap, group)
    try:
        consumer.subscribe([topic])
        assert consume(consumer, PARTITIONS * PER_PARTITION // 2, 30) > 0
        commit_until_done(consumer, 20)
        before = committed_offsets(consumer, topic)
        assert sum(max(o, 0) for o in before.values()) > 0, before

        error, coordinator = cluster.find_coordinator(group)
        assert error == 0 and coordinator in cluster.nodes
        killed_at = time.monotonic()
        cluster.kill(coordinator)

        def moved() -> int | None:
            code, node = cluster.find_coordinator(group)
            return node if code == 0 and node != coordinator and node in cluster.live() else None

        successor = cluster.wait_for(moved, 20, what="a new coordinator")
        print(f"new coordinator {successor} {time.monotonic() - killed_at:.1f} s after the kill")

        # Read right away from the new coordinator by a reader outside the group's members.
        reader = group_consumer(cluster.bootstrap, group)
        try:
            after_kill = committed_offsets(reader, topic)
        finally:
            reader.close()
        assert all(after_kill[p] >= before[p] for p in before), (before, after_kill)

        # The member goes on: reads the rest and commits through the new coordinator.
        positions = consume_to_end(consumer, topic, 30)
        assert positions == {p: PER_PARTITION for p in range(PARTITIONS)}, positions
        commit_until_done(consumer, 30)
        final = committed_offsets(consumer, topic)
    finally:
        consumer.close()

    assert all(final[p] >= before[p] for p in before), (before, final)
    assert final == {p: PER_PARTITION for p in range(PARTITIONS)}, final
    reread = group_consumer(cluster.bootstrap, group)
    try:
        assert committed_offsets(reread, topic) == final
    finally:
        reread.close()
