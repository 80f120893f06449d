"""The three broker configs of configs/cluster/ load and describe one cluster on one machine."""

from __future__ import annotations

from pathlib import Path

from broker.config import load_config
from broker.dev_cluster import CONFIG_DIR, NODES

ROOT = Path(__file__).resolve().parents[3]


def test_cluster_configs_are_three_distinct_brokers_of_one_etcd_cluster() -> None:
    assert CONFIG_DIR == ROOT / "configs" / "cluster"
    configs = [load_config(CONFIG_DIR / f"broker{node}.toml") for node in NODES]
    assert [c.node_id for c in configs] == [1, 2, 3]
    assert [c.listeners[0].port for c in configs] == [9092, 9093, 9094]
    assert len({c.log_dirs for c in configs}) == 3
    assert all(not Path(d).is_absolute() for c in configs for d in c.log_dirs)
    assert len({c.metrics_listener for c in configs}) == 3
    assert {c.metadata_store for c in configs} == {"etcd://127.0.0.1:2379/rillet"}
    assert all(c.default_replication_factor == 3 and c.min_insync_replicas == 2 for c in configs)
