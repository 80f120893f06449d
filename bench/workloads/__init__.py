"""Every workload of the suite, in the order it runs (see :func:`all_workloads`)."""

from __future__ import annotations

from bench.suite import Workload
from bench.workloads import clients, cluster, machine, peers, raw


def all_workloads() -> list[Workload]:
    """The machine's limits, Rillet raw, the peers, then Rillet with clients.

    The peers run right after Rillet's raw ingest so that the two sides of the headline
    comparison are measured close together on a machine whose load changes.  The replicated
    cluster comes last: it starts etcd and three brokers of its own.
    """
    return [*machine.WORKLOADS, *raw.WORKLOADS, *peers.WORKLOADS, *clients.WORKLOADS,
            *cluster.WORKLOADS]
