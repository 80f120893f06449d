"""Rillet replicated: three brokers and etcd on this machine, what replication costs.

Each workload starts its own cluster (:class:`bench.brokers.LocalCluster`: etcd and three
brokers with the default, durable config) unless ``--cluster`` names a running one.  In the
same cluster, one after the other, the raw generator drives a one-partition topic with
replication factor 1 and acks=1, then replication factor 3 with acks=1, then replication
factor 3 with acks=all (``min.insync.replicas=2``), durable and then with the topic set to
``write.caching=true``, so the ratios to the first are measured under the same conditions;
once with 16 KiB batches, once with ~1 MB batches.  Each row starts once the brokers are idle
(acks=1 leaves the followers behind, and they catch up for a minute or more after an acks=1
row at millions of records per second) and the kernel has written the earlier rows' records
to disk (three replicas of ~1 MB-batch rows leave gigabytes for it to write).  The raw
generator talks to the partition leader, found through Metadata once every replica is in
sync.  The latency workload sends 10,000 records/s with confluent-kafka to a
replication-factor-3 topic with acks=all, durable and then cached, and measures from each
record's due time to its arrival at a consumer in another process.

Durable means what the broker defaults to: an acks=all write is acknowledged once the leader
and the followers it counts have fsynced it (group commit); acks=1 once the leader has it in
its page cache.  Cached (``write.caching=true``) counts what the replicas hold in their page
cache, as Kafka's acks=all does: the rows Kafka's own benchmarks compare with.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from client.protocol import ApiKey

from bench import kafka_clients, kafka_raw
from bench.brokers import LocalCluster
from bench.kafka_clients import create_topic, new_topic_name
from bench.child import report_progress
from bench.machine import disk_note, wait_disk_quiet, wait_written_back
from bench.procstat import wait_idle
from bench.results import SKIPPED, Result, latency_summary, measured
from bench.suite import Context, Workload, best_of

SIZE = 100
RECORDS_16K = 150  # 100-byte values: ~16 KiB batches, Kafka's default batch.size
RECORDS_1M = 9_000  # 100-byte values: ~0.97 MB batches
CONNECTIONS = 4
IDLE_NOTE_S = 3  # a row that had to wait this long for idle brokers says so
WINDOW = 8
GENERATOR = "raw Produce v9"
SETTINGS = {
    # The last broker to stop has no one to hand its leaderships to: do not wait long.
    "controlled.shutdown.timeout.ms": "3000",
    "metrics.listener": "",
}


@contextlib.contextmanager
def cluster_for(ctx: Context) -> Iterator[tuple[str, dict[str, int]]]:
    """(bootstrap, server pids) of the ``--cluster`` given or of a fresh local cluster."""
    if ctx.options.cluster:
        yield ctx.options.cluster, {}
        return
    with LocalCluster(3, SETTINGS, data_root=ctx.options.data_root) as cluster:
        yield cluster.bootstrap, cluster.pids


def _describe(bootstrap: str, topic: str) -> dict:
    body = {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": False}
    return kafka_raw.request_once(bootstrap.split(",")[0], ApiKey.METADATA, 12, body)


def wait_in_sync(bootstrap: str, topic: str, replicas: int, timeout: float = 60) -> str:
    """Wait until partition 0 of ``topic`` has a leader and ``replicas`` in sync; the
    leader's host:port."""
    deadline = time.monotonic() + timeout
    while True:
        answer = _describe(bootstrap, topic)
        nodes = {b["node_id"]: f"{b['host']}:{b['port']}" for b in answer["brokers"]}
        for described in answer["topics"]:
            for partition in described["partitions"]:
                if (partition["partition_index"] == 0 and partition["error_code"] == 0
                        and partition["leader_id"] in nodes
                        and len(partition["isr_nodes"]) >= replicas):
                    return nodes[partition["leader_id"]]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{topic}: no leader with {replicas} replicas in sync "
                               f"after {timeout} s: {answer['topics']}")
        time.sleep(0.2)


def _produce(bootstrap: str, topic: str, replicas: int, shape: dict, seconds: float,
             rounds: int) -> dict:
    leader = wait_in_sync(bootstrap, topic, replicas)

    def once(progress: Callable[[float], None]) -> dict:
        return asdict(kafka_raw.produce(
            leader, topic, kafka_raw.ProduceShape(**shape), seconds=seconds,
            connections=CONNECTIONS, window=WINDOW, progress=progress,
        ))
    return best_of(rounds, once, report_progress)


def _row(key: str, text: str, generator: str = GENERATOR) -> Result:
    return Result(key=key, group="replication", system="Rillet", generator=generator,
                  workload=text)


def _unavailable(rows: list[Result], why: str) -> list[Result]:
    for row in rows:
        row.status = SKIPPED
        row.note = why
    return rows


BATCHES = (("16k", RECORDS_16K, "16 KiB batches"), ("1m", RECORDS_1M, "~1 MB batches"))
DURABLE = {"min.insync.replicas": "2"}
CACHED = {"min.insync.replicas": "2", "write.caching": "true"}
REPLICATION = (
    ("rf1.acks1", 1, 1, {}, "replication factor 1, acks=1"),
    ("rf3.acks1", 3, 1, DURABLE, "replication factor 3, acks=1"),
    ("rf3.acksall", 3, -1, DURABLE,
     "replication factor 3, acks=all, min.insync.replicas=2, fsync group commit"),
    ("rf3.acksall.cached", 3, -1, CACHED,
     "replication factor 3, acks=all, min.insync.replicas=2, write.caching=true"),
)


def throughput(ctx: Context) -> list[Result]:
    """For each batch size: RF=1 acks=1, RF=3 acks=1, RF=3 acks=all durable and cached, in
    one cluster."""
    cases = [
        (_row(f"cluster.{name}.{size}",
              f"ingest 100 B records, 1 partition, {text}, {batch_text}, three brokers"),
         replicas, configs, kafka_raw.ProduceShape(batch_records=records, acks=acks))
        for size, records, batch_text in BATCHES
        for name, replicas, acks, configs, text in REPLICATION
    ]
    rows = [row for row, _, _, _ in cases]
    if not ctx.options.cluster and shutil.which("etcd") is None:
        return _unavailable(rows, "needs etcd (Debian package etcd-server) or --cluster")
    with cluster_for(ctx) as (bootstrap, pids):
        for row, replicas, configs, shape in cases:
            topic = new_topic_name(row.key.replace(".", "-"))
            ctx.run((create_topic, (bootstrap, topic, 1, replicas, configs), {}))
            # acks=1 leaves the followers behind; a row started before they have caught up
            # would share the cores with the previous row's replication.
            waited = wait_idle(pids.values())
            # The rows before left their records for the kernel to write out; a row sharing
            # the disk with that would not be measured under the first row's conditions.
            written_back = wait_written_back()
            (out,), cpu, _ = ctx.run(
                (_produce, (bootstrap, topic, replicas, asdict(shape), ctx.scale.seconds,
                            ctx.scale.rounds), {}),
                servers=pids,
            )
            row.cpu = cpu
            measured(row, out["records"], out["payload_bytes"], out["seconds"])
            notes = [f"best of {ctx.scale.rounds} runs of {ctx.scale.seconds:g} s"
                     if ctx.scale.rounds > 1 else ""]
            if waited >= IDLE_NOTE_S:
                notes.append(f"started once the brokers were idle ({waited:.0f} s after the "
                             "previous row, whose followers were still catching up)")
            if written_back >= IDLE_NOTE_S:
                notes.append(f"started once earlier rows' data was on disk ({written_back:.0f} s)")
            row.note = "; ".join(n for n in notes if n)
    for base in range(0, len(rows), len(REPLICATION)):
        first = rows[base].records_per_s
        for row in rows[base + 1 : base + len(REPLICATION)]:
            if first and row.records_per_s:
                row.note = f"{row.records_per_s / first:.2f}× replication factor 1; {row.note}"
    return rows


def _latency_produce(bootstrap: str, topic: str, rate: int, seconds: float, size: int,
                     acks: str, ready: Any) -> int:
    wait_in_sync(bootstrap, topic, 3)
    return kafka_clients.latency_produce(bootstrap, topic, rate, seconds, size, acks, ready)


LATENCY = (
    ("cluster.latency.rf3", DURABLE, "fsync group commit"),
    ("cluster.latency.rf3.cached", CACHED, "write.caching=true"),
)


def latency(ctx: Context) -> list[Result]:
    """End-to-end latency at a fixed rate, replication factor 3, acks=all: durable, cached."""
    rate, seconds = ctx.scale.latency_rate, ctx.scale.latency_seconds
    cases = [
        (_row(key, f"end-to-end latency, {rate:,} records/s of 100 B, replication factor 3, "
              f"acks=all, min.insync.replicas=2, {text}", "confluent-kafka"), configs)
        for key, configs, text in LATENCY
    ]
    rows = [row for row, _ in cases]
    for row in rows:
        row.group = "latency"
    if not ctx.options.cluster and shutil.which("etcd") is None:
        return _unavailable(rows, "needs etcd (Debian package etcd-server) or --cluster")
    count = int(rate * seconds)
    with cluster_for(ctx) as (bootstrap, pids):
        for row, configs in cases:
            ready = multiprocessing.get_context("spawn").Event()
            topic = new_topic_name(row.key.replace(".", "-"))
            ctx.run((create_topic, (bootstrap, topic, 1, 3, configs), {}))
            wait_idle(pids.values())
            disk_waited = wait_disk_quiet(ctx.options.data_root)
            (samples, sent), cpu, _ = ctx.run(
                (kafka_clients.latency_consume, (bootstrap, topic, count, ready, seconds + 90),
                 {}),
                (_latency_produce, (bootstrap, topic, rate, seconds, SIZE, "all", ready), {}),
                servers=pids,
            )
            row.cpu = cpu
            row.latency_ms = latency_summary(samples)
            row.records = sent
            row.payload_bytes = sent * SIZE
            row.seconds = seconds
            row.records_per_s = float(rate)
            row.note = ("from each record's due time to its arrival at the consumer; "
                        f"linger {kafka_clients.LATENCY_LINGER_MS} ms{disk_note(disk_waited)}")
    return rows


WORKLOADS = [
    Workload("cluster.throughput",
             "cluster: RF=1 acks=1, RF=3 acks=1, RF=3 acks=all durable and cached", 170,
             throughput),
    Workload("cluster.latency", "cluster: latency at 10,000 records/s, RF=3 acks=all", 45,
             latency),
]
