"""Rillet driven by real clients: confluent-kafka and the Rillet SDK, one call per record.

Producers use linger 5 ms and ~1 MB batches, idempotence off, records round-robin over the
partitions.  The producer rows keep the best of ``rounds`` runs into the same topic, as the
raw rows do: a producer keeping a core busy moves with the machine's other load from run to
run.  The consumer reads from offset 0 with assign().  The latency pair sends a fixed rate
with linger 2 ms (``kafka_clients.LATENCY_LINGER_MS`` says why) and measures, in a separate
consumer process, from each record's due time to its arrival.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench import kafka_clients
from bench.brokers import BrokerProcess
from bench.child import report_progress
from bench.kafka_clients import create_topic, new_topic_name
from bench.kafka_raw import ProduceShape
from bench.machine import disk_note, wait_disk_quiet
from bench.results import Result, latency_summary, measured
from bench.suite import Context, Workload, best_of
from bench.workloads.raw import WARM_ROUNDS, warm_up

CONFLUENT = "confluent-kafka"
SDK = "Rillet SDK"
SIZE = 100


def _row(key: str, group: str, generator: str, workload: str) -> Result:
    return Result(key=key, group=group, system="Rillet", generator=generator, workload=workload)


def _fill(row: Result, out: dict, cpu: dict[str, float]) -> Result:
    row.cpu = cpu
    return measured(row, out["records"], out["payload_bytes"], out["seconds"])


def _best_produce(producer: Callable[..., dict], rounds: int, *args: Any, **kwargs: Any) -> dict:
    """The run with the most records/s of ``rounds`` runs of ``producer``."""
    return best_of(rounds, lambda progress: producer(*args, progress=progress, **kwargs),
                   report_progress)


def _produce_one(ctx: Context, broker: BrokerProcess, row: Result, producer, partitions: int,
                 acks: str) -> tuple[Result, str]:
    topic = new_topic_name("clients")
    ctx.run((create_topic, (broker.bootstrap, topic, partitions), {}))
    count, rounds = ctx.scale.client_records, ctx.scale.rounds
    (out,), cpu, _ = ctx.run(
        (_best_produce, (producer, rounds, broker.bootstrap, topic, count, SIZE, acks),
         {"partitions": partitions}),
        servers={"broker": broker.pid},
    )
    if rounds > 1:
        row.note = f"best of {rounds} runs of {count:,} records"
    return _fill(row, out, cpu), topic


def producers_and_consumer(ctx: Context) -> list[Result]:
    """confluent-kafka producer, then both consumers reading its records; the SDK producer."""
    count = ctx.scale.client_records
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        confluent, topic = _produce_one(ctx, broker, _row(
            "clients.confluent.produce", "producers", CONFLUENT,
            "produce 100 B records, 1 partition, acks=1"), kafka_clients.confluent_produce,
            1, "1")
        (out,), cpu, _ = ctx.run(
            (kafka_clients.confluent_consume, (broker.bootstrap, topic, count, SIZE), {}),
            servers={"broker": broker.pid},
        )
        consumer = _fill(_row("clients.confluent.consume", "consume", CONFLUENT,
                              "consume 100 B records from offset 0, 1 partition"), out, cpu)
        (out,), cpu, _ = ctx.run(
            (kafka_clients.sdk_consume, (broker.bootstrap, topic, count, SIZE), {}),
            servers={"broker": broker.pid},
        )
        sdk_consumer = _fill(_row("clients.sdk.consume", "consume", SDK,
                                  "consume 100 B records from offset 0, 1 partition"), out, cpu)
        sdk, _ = _produce_one(ctx, broker, _row(
            "clients.sdk.produce", "producers", SDK,
            "produce 100 B records, 1 partition, acks=1 (send_nowait)"),
            kafka_clients.sdk_produce, 1, "1")
    return [confluent, consumer, sdk, sdk_consumer]


def together(ctx: Context) -> list[Result]:
    """A producer and a consumer of the same partition at the same time, each its own process."""
    count = ctx.scale.client_records
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        topic = new_topic_name("together")
        ctx.run((create_topic, (broker.bootstrap, topic, 1), {}))
        (consumed, produced), cpu, _ = ctx.run(
            (kafka_clients.confluent_consume, (broker.bootstrap, topic, count, SIZE), {}),
            (kafka_clients.confluent_produce, (broker.bootstrap, topic, count, SIZE, "1"), {}),
            servers={"broker": broker.pid},
        )
    producer = _row("clients.together.produce", "together", CONFLUENT,
                    "producer and consumer at once: producer side, 1 partition, acks=1")
    consumer = _row("clients.together.consume", "together", CONFLUENT,
                    "producer and consumer at once: consumer side, from the producer's "
                    "first record to the consumer's last")
    _fill(producer, produced, cpu)
    # The consumer starts first and waits for data: its interval starts with the producer's.
    _fill(consumer, {**consumed, "seconds": consumed["finished_at"] - produced["started_at"]}, cpu)
    return [producer, consumer]


def many_partitions(ctx: Context) -> list[Result]:
    """confluent-kafka producer over 1,000 partitions (round-robin records), once every
    partition has had its first appends (see :func:`bench.workloads.raw.many_partitions`)."""
    shape = ProduceShape(batch_records=100, partitions=1000, partitions_per_request=100)
    topic = new_topic_name("clients1000")
    count = ctx.scale.client_records
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        ctx.run((create_topic, (broker.bootstrap, topic, shape.partitions), {}))
        ctx.run((warm_up, (broker.bootstrap, topic, asdict(shape), WARM_ROUNDS), {}))
        (out,), cpu, _ = ctx.run(
            (_best_produce, (kafka_clients.confluent_produce, ctx.scale.rounds, broker.bootstrap,
                             topic, count, SIZE, "1"), {"partitions": shape.partitions}),
            servers={"broker": broker.pid},
        )
    row = _row("clients.confluent.1000p", "partitions", CONFLUENT,
               "produce 100 B records, 1,000 partitions round-robin, acks=1, after a warm-up")
    row.note = (f"best of {ctx.scale.rounds} runs; "
                "each record names its partition (i % 1,000), so every partition holds a small "
                "batch at any time and librdkafka sends each in a Produce request of its own; "
                "unkeyed records left to its default partitioner would stick to one partition "
                "for 10 ms at a time")
    return [_fill(row, out, cpu)]


def durable(ctx: Context) -> list[Result]:
    """confluent-kafka producer with acks=all on the default, durable, broker."""
    with BrokerProcess(data_root=ctx.options.data_root) as broker:
        row, _ = _produce_one(ctx, broker, _row(
            "clients.confluent.durable", "durable", CONFLUENT,
            "produce 100 B records, 1 partition, acks=all, fsync group commit"),
            kafka_clients.confluent_produce, 1, "all")
    return [row]


def _latency(key: str, acks: str, text: str):
    def run(ctx: Context) -> list[Result]:
        rate, seconds = ctx.scale.latency_rate, ctx.scale.latency_seconds
        count = int(rate * seconds)
        ready = multiprocessing.get_context("spawn").Event()
        with BrokerProcess(data_root=ctx.options.data_root) as broker:
            topic = new_topic_name("latency")
            ctx.run((create_topic, (broker.bootstrap, topic, 1), {}))
            disk_waited = wait_disk_quiet(ctx.options.data_root)
            (samples, sent), cpu, _ = ctx.run(
                (kafka_clients.latency_consume,
                 (broker.bootstrap, topic, count, ready, seconds + 60), {}),
                (kafka_clients.latency_produce,
                 (broker.bootstrap, topic, rate, seconds, SIZE, acks, ready), {}),
                servers={"broker": broker.pid},
            )
        row = _row(key, "latency", CONFLUENT, text)
        row.cpu = cpu
        row.latency_ms = latency_summary(samples)
        row.records = sent
        row.payload_bytes = sent * SIZE
        row.seconds = seconds
        row.records_per_s = float(rate)
        row.note = ("from each record's due time to its arrival at the consumer; "
                    f"linger {kafka_clients.LATENCY_LINGER_MS} ms{disk_note(disk_waited)}")
        return [row]
    return run


WORKLOADS = [
    Workload("clients.producers", "clients: confluent-kafka and SDK producers, consumer", 55,
             producers_and_consumer),
    Workload("clients.together", "clients: producer and consumer together", 20, together),
    Workload("clients.confluent.1000p", "clients: 1,000 partitions", 55, many_partitions),
    Workload("clients.confluent.durable", "clients: durable acks=all", 30, durable),
    Workload("latency.acks1", "latency: 10,000 records/s, acks=1", 16, _latency(
        "latency.acks1", "1", "end-to-end latency, 10,000 records/s of 100 B, acks=1")),
    Workload("latency.durable", "latency: 10,000 records/s, acks=all", 16, _latency(
        "latency.durable", "all",
        "end-to-end latency, 10,000 records/s of 100 B, acks=all, fsync group commit")),
]
