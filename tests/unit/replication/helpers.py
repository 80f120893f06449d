"""Small builders shared by the replication tests: logs, states, batches."""

from __future__ import annotations

from pathlib import Path

from client.records import build_batch

from broker.metadata.membership import BrokerInfo
from broker.metadata.records import PartitionState
from broker.storage.config import LogConfig
from broker.storage.log import Log

TOPIC = "t"


def state(
    replicas: tuple[int, ...] = (1, 2, 3),
    leader: int = 1,
    epoch: int = 0,
    isr: tuple[int, ...] | None = None,
    partition: int = 0,
) -> PartitionState:
    """A partition state of topic ``t``."""
    return PartitionState(TOPIC, partition, replicas, leader, epoch, replicas if isr is None else isr)


def open_log(directory: Path, min_insync: int = 1, **overrides: object) -> Log:
    """A log in ``directory/t-0`` with ``min.insync.replicas`` and other overrides."""
    config = LogConfig().with_overrides({"min.insync.replicas": min_insync, **overrides})
    return Log(str(directory / f"{TOPIC}-0"), config)


def batch(*values: bytes) -> memoryview:
    """One batch holding ``values`` (one offset each)."""
    return memoryview(bytearray(build_batch(list(values))))


def broker(node_id: int, version: int = 1, shutting_down: bool = False) -> BrokerInfo:
    """A registered broker whose registration was written at ``version``."""
    return BrokerInfo(node_id, "127.0.0.1", 9000 + node_id, f"i{node_id}", shutting_down, version)
