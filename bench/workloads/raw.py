"""Rillet driven by the raw generator: what the broker itself ingests and serves.

Each workload starts a fresh broker with the default config (``write.caching=false``, so an
acks=all write is acknowledged only after its group-committed fsync), creates the topic in one
child process and drives it from another (:func:`bench.kafka_raw.produce`).  Batch sizes:
16 KiB is Kafka's default ``batch.size``; ~1 MiB batches are what a client sends with large
``batch.size`` and some linger, and close to ``message.max.bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from bench import kafka_raw
from bench.brokers import BrokerProcess
from bench.child import report_progress
from bench.kafka_clients import create_topic, new_topic_name
from bench.results import Result, measured
from bench.suite import Context, Workload, best_of

CONNECTIONS = 4
WINDOW = 8
RECORDS_16K = 150   # 100-byte values: ~16 KiB batches
RECORDS_1M = 9_000  # 100-byte values: ~0.97 MB batches
RECORDS_1M_1K = 950  # 1 KiB values: ~0.98 MB batches
GENERATOR = "raw Produce v9"
WARM_ROUNDS = 3


def _produce(bootstrap: str, topic: str, shape: dict, seconds: float, rounds: int = 1) -> dict:
    def once(progress: Callable[[float], None]) -> dict:
        return asdict(kafka_raw.produce(
            bootstrap, topic, kafka_raw.ProduceShape(**shape), seconds=seconds,
            connections=CONNECTIONS, window=WINDOW, progress=progress,
        ))
    return best_of(rounds, once, report_progress)


def warm_up(bootstrap: str, topic: str, shape: dict, rounds: int) -> float:
    """Pay for the first appends to every partition of ``topic`` (in a child process)."""
    shape_ = kafka_raw.ProduceShape(**shape)
    kafka_raw.wait_writable(bootstrap, topic, shape_)
    return kafka_raw.warm_up(bootstrap, topic, shape_, rounds)


def _fetch(bootstrap: str, topic: str) -> dict:
    end = kafka_raw.end_offset(bootstrap, topic)
    return asdict(kafka_raw.fetch(bootstrap, topic, end, progress=report_progress))


def ingest(ctx: Context, broker: BrokerProcess, row: Result, shape: kafka_raw.ProduceShape,
           topic: str, replication: int = 1) -> Result:
    """Create ``topic`` and drive raw produce at it; fill ``row`` with the figures."""
    ctx.run((create_topic, (broker.bootstrap, topic, shape.partitions, replication), {}))
    (out,), cpu, _ = ctx.run(
        (_produce, (broker.bootstrap, topic, asdict(shape), ctx.scale.seconds,
                    ctx.scale.rounds), {}),
        servers={"broker": broker.pid},
    )
    row.cpu = cpu
    if ctx.scale.rounds > 1:
        row.note = f"best of {ctx.scale.rounds} runs of {ctx.scale.seconds:g} s"
    return measured(row, out["records"], out["payload_bytes"], out["seconds"])


def _row(key: str, group: str, workload: str) -> Result:
    return Result(key=key, group=group, system="Rillet", generator=GENERATOR, workload=workload)


def _single(key: str, group: str, text: str, shape: kafka_raw.ProduceShape):
    def run(ctx: Context) -> list[Result]:
        with BrokerProcess(data_root=ctx.options.data_root) as broker:
            return [ingest(ctx, broker, _row(key, group, text), shape, new_topic_name("raw"))]
    return run


def large_batches_and_fetch(ctx: Context) -> list[Result]:
    """Ingest ~1 MB batches of 100-byte records, then fetch all of them back."""
    shape = kafka_raw.ProduceShape(batch_records=RECORDS_1M)
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        topic = new_topic_name("raw")
        produced = ingest(ctx, broker, _row(
            "raw.ingest.100b.1m", "ingest",
            "ingest 100 B records, 1 partition, acks=1, ~1 MB batches"), shape, topic)
        (out,), cpu, _ = ctx.run((_fetch, (broker.bootstrap, topic), {}),
                                 servers={"broker": broker.pid})
        fetched = Result(key="raw.fetch.1m", group="consume", system="Rillet",
                         generator="raw Fetch v12",
                         workload="fetch ~1 MB batches from offset 0, 2 connections, "
                                  "8 MiB per response", cpu=cpu,
                         note="MB/s counts whole batches as received (headers included)")
        measured(fetched, out["records"], out["payload_bytes"], out["seconds"])
    return [produced, fetched]


def many_partitions(ctx: Context) -> list[Result]:
    """1,000 partitions: each request carries one 100-record batch for 100 of them.

    Creating the topic and the first appends to each new partition (segment and index files
    created and first touched) are timed apart and reported in the note; the rate is for the
    partitions once they exist.
    """
    shape = kafka_raw.ProduceShape(batch_records=100, partitions=1000, partitions_per_request=100)
    topic = new_topic_name("raw1000")
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        _, _, created = ctx.run((create_topic, (broker.bootstrap, topic, shape.partitions), {}))
        (warm,), _, _ = ctx.run((warm_up, (broker.bootstrap, topic, asdict(shape), WARM_ROUNDS), {}))
        row = _row("raw.ingest.1000p", "partitions",
                   "ingest 100 B records, 1,000 partitions, acks=1, 100-record batches, "
                   "100 partitions per request, after a warm-up")
        (out,), cpu, _ = ctx.run(
            (_produce, (broker.bootstrap, topic, asdict(shape), ctx.scale.seconds), {}),
            servers={"broker": broker.pid},
        )
        row.cpu = cpu
        measured(row, out["records"], out["payload_bytes"], out["seconds"])
    row.note = (f"creating the topic took {created:.1f} s; the first {WARM_ROUNDS} appends to "
                f"each new partition took {warm / shape.partitions * 1000 / WARM_ROUNDS:.1f} ms "
                "per partition and append")
    return [row]


WORKLOADS = [
    Workload("raw.ingest.100b.16k", "Rillet raw: 100 B, 16 KiB batches", 12, _single(
        "raw.ingest.100b.16k", "ingest",
        "ingest 100 B records, 1 partition, acks=1, 16 KiB batches",
        kafka_raw.ProduceShape(batch_records=RECORDS_16K))),
    Workload("raw.ingest.100b.1m", "Rillet raw: 100 B, 1 MB batches, then fetch", 16,
             large_batches_and_fetch),
    Workload("raw.ingest.1k", "Rillet raw: 1 KiB records", 12, _single(
        "raw.ingest.1k", "ingest",
        "ingest 1 KiB records, 1 partition, acks=1, ~1 MB batches",
        kafka_raw.ProduceShape(record_size=1024, batch_records=RECORDS_1M_1K))),
    Workload("raw.ingest.1000p", "Rillet raw: 1,000 partitions", 45, many_partitions),
    Workload("raw.durable.16k", "Rillet raw: durable, 16 KiB batches", 12, _single(
        "raw.durable.16k", "durable",
        "ingest 100 B records, 1 partition, acks=all, fsync group commit, "
        "write.caching=false, 16 KiB batches",
        kafka_raw.ProduceShape(batch_records=RECORDS_16K, acks=-1))),
    Workload("raw.durable.1m", "Rillet raw: durable, 1 MB batches", 12, _single(
        "raw.durable.1m", "durable",
        "ingest 100 B records, 1 partition, acks=all, fsync group commit, "
        "write.caching=false, ~1 MB batches",
        kafka_raw.ProduceShape(batch_records=RECORDS_1M, acks=-1))),
]
