"""Every workload of the suite, in the order it runs (see :func:`all_workloads`)."""

from __future__ import annotations

from bench.suite import Workload
from bench.workloads import clients, machine, peers, raw


def all_workloads() -> list[Workload]:
    """The machine's limits first, then Rillet raw, Rillet with clients, then the peers."""
    return [*machine.WORKLOADS, *raw.WORKLOADS, *clients.WORKLOADS, *peers.WORKLOADS]
