"""``__consumer_offsets`` is created with ``offsets.topic.replication.factor`` replicas, never
fewer: while too few brokers serve, groups are told COORDINATOR_NOT_AVAILABLE (a retriable
code every client waits on), as Kafka does, instead of getting an offsets topic whose
committed offsets live on one disk for good.
"""

from __future__ import annotations

import time
from pathlib import Path

from client.protocol import ErrorCode

from harness.cluster import ClusterProcesses, cluster_etcd  # noqa: F401 (fixture)

OFFSETS_TOPIC = "__consumer_offsets"


def test_offsets_topic_waits_for_its_replication_factor(
    cluster_etcd, tmp_path: Path  # noqa: F811 (fixture)
) -> None:
    settings = {"offsets.topic.replication.factor": "3", "offsets.topic.num.partitions": "3"}
    processes = ClusterProcesses(tmp_path / "cluster", 3, etcd=cluster_etcd, settings=settings)
    try:
        processes.start_node(1)
        processes.start_node(2)
        processes.wait_members([1, 2])

        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            code, node = processes.find_coordinator("early-group")
            assert (code, node) == (ErrorCode.COORDINATOR_NOT_AVAILABLE, -1)
            time.sleep(0.2)
        assert not processes.metadata(OFFSETS_TOPIC), "created with too few replicas"

        processes.start_node(3)
        processes.wait_members()
        code, node = processes.wait_for(
            lambda: (found := processes.find_coordinator("early-group"))[0] == 0 and found,
            what="a coordinator once three brokers serve",
        )
        assert node in (1, 2, 3)
        partitions = processes.metadata(OFFSETS_TOPIC)
        assert sorted(partitions) == [0, 1, 2]
        assert all(sorted(p.replicas) == [1, 2, 3] for p in partitions.values())
    finally:
        processes.print_logs()
        processes.close()
