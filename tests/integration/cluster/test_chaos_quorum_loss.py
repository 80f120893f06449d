"""Two of three brokers down under min.insync.replicas=2: acks=all must refuse, not pretend.

With only one replica left nothing written with acks=all may be acknowledged (the broker says
NOT_ENOUGH_REPLICAS, or the request times out); writes with acks=1 still land on the one that
is left.  When the two come back they truncate to the surviving leader's log, catch up, and
the ISR is all three again, with every replica holding the same records.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, Message, Producer

from harness.cluster import (  # noqa: F401 (fixtures)
    ClusterProcesses,
    cluster,
    cluster_etcd,
    consume_values,
    produce_values,
)

NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
REQUEST_TIMED_OUT = 7


def test_acks_all_refuses_without_quorum_and_the_isr_heals(cluster: ClusterProcesses) -> None:
    topic = "quorum-loss"
    cluster.create_topic(topic, partitions=1, replication_factor=3,
                         configs={"min.insync.replicas": "2"})
    before = [b"before-%d" % i for i in range(20)]
    info = cluster.wait_isr(topic, 0, 3)
    assert produce_values(cluster, info.leader, topic, before)["error_code"] == 0

    # Take the leader and one follower away: the survivor must lead alone.
    survivor = next(n for n in cluster.nodes if n != info.leader)
    down = [n for n in cluster.nodes if n != survivor]
    for node in down:
        cluster.kill(node)
    alone = cluster.wait_isr(topic, 0, 1, timeout=20)
    assert alone.leader == survivor and alone.isr == (survivor,)
    assert alone.leader_epoch > info.leader_epoch

    # Raw acks=all: an error, never success.
    refused = produce_values(cluster, survivor, topic, [b"refused-%d" % i for i in range(5)],
                             timeout_ms=2000)
    assert refused["error_code"] in (
        NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT
    ), refused

    # An ordinary acks=all producer: every delivery report is an error.
    outcomes: list[str | None] = []
    producer = Producer({
        "bootstrap.servers": cluster.bootstrap,
        "acks": "all",
        "message.timeout.ms": 3000,
        "retry.backoff.ms": 200,
    })
    def report(error: KafkaError | None, _message: Message) -> None:
        outcomes.append(None if error is None else error.name())

    for i in range(10):
        producer.produce(topic, b"lonely-%d" % i, partition=0, on_delivery=report)
    assert producer.flush(20) == 0
    assert len(outcomes) == 10 and None not in outcomes, outcomes

    # acks=1 is the leader's word alone: accepted, and what the others must catch up on.
    single = [b"single-%d" % i for i in range(20)]
    assert produce_values(cluster, survivor, topic, single, acks=1)["error_code"] == 0

    started = time.monotonic()
    for node in down:
        cluster.start_node(node)
    healed = cluster.wait_isr(topic, 0, 3, timeout=40)
    print(f"ISR back to three {time.monotonic() - started:.1f} s after the restarts")
    assert sorted(healed.isr) == sorted(cluster.nodes)

    after = [b"after-%d" % i for i in range(10)]
    assert produce_values(cluster, healed.leader, topic, after)["error_code"] == 0

    def same_everywhere() -> bool:
        logs = [[(r.offset, r.value) for r in cluster.log_records(n, topic, 0)]
                for n in cluster.nodes]
        return all(log == logs[0] for log in logs) and len(logs[0]) >= 50

    cluster.wait_for(same_everywhere, 20, what="every replica holds the same records")
    held = [r.value for r in cluster.log_records(survivor, topic, 0)]
    assert held[: len(before)] == before
    assert [v for v in held if v.startswith(b"single-")] == single
    assert held[-len(after):] == after

    values = consume_values(cluster.bootstrap, topic, expect=len(held))
    assert values == held, "a consumer reads what every replica holds"
