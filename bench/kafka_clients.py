"""Load generators built on real clients: confluent-kafka (librdkafka) and the Rillet SDK.

Each function runs in a child process (:mod:`bench.child`) and returns plain numbers.
Producers send ``count`` values one client call per record, as an application would, then
wait until every record is acknowledged; the clock covers both.  Records go round-robin over
the topic's partitions by explicit partition number, so many-partition runs really spread.
The latency pair sends at a fixed rate with the intended send time (monotonic clock, which
is one clock for every process of the machine) in the first 8 bytes of each value; the
consumer, in its own process, subtracts it from its clock when the record arrives.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.child import report_progress

_STAMP = struct.Struct(">q")
QUIET = {"log_level": 0}  # librdkafka's own log lines would interleave with the display
# With linger 0 librdkafka sends every record as a request of its own at once. At 10,000
# records/s on two cores, 2 ms gave a lower p50 and p99 than 1 ms with replication factor 3
# (half the produce requests, so the five processes stop queueing for the cores) and cost
# about 0.5 ms of p50 with one replica; both are well under librdkafka's default of 5 ms.
LATENCY_LINGER_MS = 2
# The consumer's long-poll bound; an append should answer a waiting fetch well before it.
FETCH_WAIT_MS = 100
OFFSETS_TOPIC = "__consumer_offsets"


def create_topic(bootstrap: str, name: str, partitions: int, replication: int = 1,
                 configs: dict[str, str] | None = None) -> None:
    """Create ``name`` with the admin client and wait for the result."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    topic = NewTopic(name, partitions, replication, config=configs or {})
    admin.create_topics([topic], operation_timeout=60)[name].result(120)


def new_topic_name(prefix: str) -> str:
    """A fresh topic name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _confluent_producer(bootstrap: str, acks: str, linger_ms: int, batch_bytes: int) -> Any:
    from confluent_kafka import Producer

    return Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": linger_ms,
        "batch.size": batch_bytes,
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 2_000_000,
        "enable.idempotence": False,
        **QUIET,
    })


def confluent_produce(bootstrap: str, topic: str, count: int, size: int, acks: str,
                      partitions: int = 1,
                      progress: Callable[[float], None] = report_progress) -> dict[str, float]:
    """Produce ``count`` values with confluent-kafka; seconds until all are acknowledged."""
    producer = _confluent_producer(bootstrap, acks, 5, 1_000_000)
    value = b"c" * size
    failures = 0

    def on_delivery(err: object, _message: object) -> None:
        nonlocal failures
        if err is not None:
            failures += 1

    produce = producer.produce
    poll = producer.poll
    started = time.perf_counter()
    for i in range(count):
        partition = i % partitions
        try:
            produce(topic, value, partition=partition, on_delivery=on_delivery)
        except BufferError:
            poll(0.01)
            produce(topic, value, partition=partition, on_delivery=on_delivery)
        if not i & 0xFFFF:
            poll(0)
            progress(i / count)
    left = producer.flush(300)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise RuntimeError(f"confluent-kafka: {left} records not delivered, {failures} failed")
    return {"records": count, "payload_bytes": count * size, "seconds": elapsed,
            "started_at": time.time() - elapsed}


def confluent_consume(bootstrap: str, topic: str, count: int, size: int,
                      partitions: int = 1) -> dict[str, float]:
    """Read ``count`` records from offset 0 of every partition; seconds from the first poll."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "bench-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "queued.min.messages": 1_000_000,
        # librdkafka pauses fetching for this long whenever its local queue is full; its
        # default (1 s) leaves the broker idle in between.
        "fetch.queue.backoff.ms": 1,
        **QUIET,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = 0
    started = time.perf_counter()
    deadline = started + 600
    consume = consumer.consume
    while seen < count and time.perf_counter() < deadline:
        messages = consume(num_messages=100_000, timeout=1.0)
        for message in messages[:1]:
            if message.error():
                raise RuntimeError(f"consumer: {message.error()}")
        seen += len(messages)
        report_progress(seen / count)
    elapsed = time.perf_counter() - started
    finished_at = time.time()
    consumer.close()
    if seen < count:
        raise RuntimeError(f"consumer read {seen} of {count} records")
    return {"records": seen, "payload_bytes": seen * size, "seconds": elapsed,
            "finished_at": finished_at}


def sdk_produce(bootstrap: str, topic: str, count: int, size: int, acks: str,
                partitions: int = 1,
                progress: Callable[[float], None] = report_progress) -> dict[str, float]:
    """Produce ``count`` values with the SDK's async producer, ``send_nowait`` per record."""
    import trio

    from client import Producer

    value = b"s" * size
    options = {
        "acks": -1 if acks == "all" else int(acks),
        "linger_ms": 5,
        "batch_size": 1_000_000,
        "buffer_memory": max(64 << 20, min(count * (size + 20), 512 << 20)),
        "enable_idempotence": False,
    }

    async def run() -> float:
        async with Producer(bootstrap, **options) as producer:
            await producer.wait_for_topic(topic)
            send_nowait = producer.send_nowait
            send = producer.send
            checkpoint = trio.lowlevel.checkpoint
            samples = []
            started = time.perf_counter()
            for i in range(count):
                partition = i % partitions
                try:
                    future = send_nowait(topic, value, partition=partition)
                except trio.WouldBlock:
                    future = await send(topic, value, partition=partition)
                if not i & 0x3FF:
                    samples.append(future)
                    await checkpoint()  # let the sender task overlap with this loop
                    if not i & 0xFFFF:
                        progress(i / count)
            await producer.flush()
            elapsed = time.perf_counter() - started
            failed = [f.exception() for f in samples if not f.done() or f.exception()]
            if failed:
                raise RuntimeError(f"SDK producer: {len(failed)} sampled records failed: {failed[0]}")
            return elapsed

    elapsed = trio.run(run)
    return {"records": count, "payload_bytes": count * size, "seconds": elapsed}


def sdk_consume(bootstrap: str, topic: str, count: int, size: int,
                partitions: int = 1) -> dict[str, float]:
    """Read ``count`` records from offset 0 with the SDK's consumer (assign, no group)."""
    import trio

    from client.consumer import Consumer

    async def run() -> tuple[int, float]:
        consumer = Consumer(
            bootstrap_servers=bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, max_poll_records=100_000,
            max_partition_fetch_bytes=10_485_760,
        )
        async with consumer:
            consumer.assign([(topic, p) for p in range(partitions)])
            seen = 0
            started = time.perf_counter()
            deadline = started + 600
            while seen < count and time.perf_counter() < deadline:
                seen += len(await consumer.poll(timeout_ms=1000))
                report_progress(seen / count)
            return seen, time.perf_counter() - started

    seen, elapsed = trio.run(run)
    if seen < count:
        raise RuntimeError(f"SDK consumer read {seen} of {count} records")
    return {"records": seen, "payload_bytes": seen * size, "seconds": elapsed}


def wait_coordinator(bootstrap: str, group: str, timeout: float) -> None:
    """Return once ``group`` has a coordinator.

    The first FindCoordinator of a cluster creates the offsets topic and loads its
    partitions; left to the consumer, that work would land in the first records' latency.
    """
    from bench import kafka_raw

    deadline = time.monotonic() + timeout
    address = bootstrap.split(",")[0]
    while not _coordinated(kafka_raw.request_once, address, group):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no coordinator for {group} after {timeout} s")
        time.sleep(0.1)


def _coordinated(request: Any, address: str, group: str) -> bool:
    """Whether ``group`` has a coordinator and every offsets partition all its replicas.

    ``request(address, api_key, version, body)`` sends one request and returns its answer.
    """
    from client.protocol import ApiKey

    answer = request(address, ApiKey.FIND_COORDINATOR, 3, {"key": group, "key_type": 0})
    if answer["error_code"] != 0:
        return False
    body = {"topics": [{"name": OFFSETS_TOPIC}], "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": False}
    topics = request(address, ApiKey.METADATA, 12, body)["topics"]
    return all(
        topic["error_code"] == 0 and all(
            p["error_code"] == 0 and len(p["isr_nodes"]) == len(p["replica_nodes"])
            for p in topic["partitions"])
        for topic in topics)


def latency_consume(bootstrap: str, topic: str, count: int, ready: Any,
                    timeout: float, fetch_wait_ms: int = FETCH_WAIT_MS) -> list[int]:
    """Receive ``count`` stamped records; their end-to-end latencies in nanoseconds.

    ``ready`` (a shared event) is set once the consumer has its assignment and has polled.
    """
    from confluent_kafka import Consumer, TopicPartition

    group = "bench-" + uuid.uuid4().hex
    wait_coordinator(bootstrap, group, timeout)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "fetch.wait.max.ms": fetch_wait_ms,
        **QUIET,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.consume(num_messages=1, timeout=0.5)
    ready.set()
    latencies: list[int] = []
    deadline = time.monotonic() + timeout
    # poll() hands each record over as soon as it is there; consume(n, timeout) would hold
    # records back until n arrived or the timeout passed.
    poll = consumer.poll
    unpack = _STAMP.unpack_from
    now = time.monotonic_ns
    while len(latencies) < count and time.monotonic() < deadline:
        message = poll(0.2)
        if message is None:
            continue
        arrived = now()
        if message.error():
            raise RuntimeError(f"consumer: {message.error()}")
        latencies.append(arrived - unpack(message.value())[0])
        if not len(latencies) & 0x3FF:
            report_progress(len(latencies) / count)
    consumer.close()
    if len(latencies) < count:
        raise RuntimeError(f"latency consumer received {len(latencies)} of {count} records")
    return latencies


def latency_produce(bootstrap: str, topic: str, rate: int, seconds: float, size: int,
                    acks: str, ready: Any) -> int:
    """Send ``rate`` records a second for ``seconds``, each stamped with its due time.

    The stamp is the time the record was due, not the time it went out, so a stalled sender
    shows up as latency instead of being hidden (no coordinated omission).
    """
    producer = _confluent_producer(bootstrap, acks, LATENCY_LINGER_MS, 1_000_000)
    if not ready.wait(60):
        raise RuntimeError("latency consumer did not start")
    time.sleep(0.5)
    padding = b"l" * (size - _STAMP.size)
    count = int(rate * seconds)
    failures = 0

    def on_delivery(err: object, _message: object) -> None:
        nonlocal failures
        if err is not None:
            failures += 1

    interval_ns = 1_000_000_000 // rate
    start = time.monotonic_ns()
    produce = producer.produce
    poll = producer.poll
    pack = _STAMP.pack
    for i in range(count):
        due = start + i * interval_ns
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        produce(topic, pack(due) + padding, partition=0, on_delivery=on_delivery)
        poll(0)
    left = producer.flush(60)
    if left or failures:
        raise RuntimeError(f"latency producer: {left} undelivered, {failures} failed")
    return count
