"""The benchmark suite's own three-broker cluster (``bench.brokers.LocalCluster``), on a real
etcd and real broker processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from client.protocol import ApiKey

from bench.brokers import LocalCluster
from bench.kafka_raw import request_once
from bench.workloads.cluster import SETTINGS

METADATA_BODY = {"topics": [], "allow_auto_topic_creation": False,
                 "include_topic_authorized_operations": False}


def test_the_cluster_is_ready_only_once_every_broker_has_registered(tmp_path: Path) -> None:
    cluster = LocalCluster(3, SETTINGS, data_root=str(tmp_path))
    late = threading.Timer(1.0, cluster.brokers[2].start)
    try:
        cluster.etcd.start()
        for broker in cluster.brokers[:2]:
            broker.start()
        started = time.monotonic()
        late.start()
        cluster.wait_members(timeout=60)
        waited = time.monotonic() - started
        late.join()
        answer = request_once(cluster.brokers[0].bootstrap, ApiKey.METADATA, 12, METADATA_BODY)
        assert sorted(b["node_id"] for b in answer["brokers"]) == [1, 2, 3]
        assert waited >= 1.0, "it returned before the third broker had even started"
    finally:
        late.cancel()
        late.join()
        cluster.stop()
