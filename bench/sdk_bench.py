"""Producer throughput of the SDK against confluent-kafka (librdkafka), same broker, same run.

Run: ``python -m bench.sdk_bench`` (starts its own broker on a free port with a temporary
data directory) or ``python -m bench.sdk_bench --bootstrap host:port``. Each client produces
``--records`` values of ``--size`` bytes, one ``send``/``produce`` call per record, to a
fresh topic, then waits until every record is acknowledged; the clock covers both. Both
clients get the same settings: linger 5 ms, ~1 MB batches, the same acks, idempotence as
``--idempotent`` says. The SDK is measured three ways: the async producer calling
``send_nowait`` per record (``await send`` only when the buffer is full), the async
producer awaiting ``send`` per record, and the blocking producer of ``client.sync``.
Then both consumers read one of those topics from offset 0, taking turns each round
(``--no-consume`` leaves this out). Printed: records/s per client and each SDK figure as a
ratio of confluent-kafka's.

The broker, the clients and librdkafka's threads share the machine's cores, so the figures
describe the whole system.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import trio
from confluent_kafka import Producer as ConfluentProducer
from confluent_kafka.admin import AdminClient, NewTopic

import client.sync
from bench.broker_bench import local_broker
from bench.kafka_clients import confluent_consume, sdk_consume
from client import Producer
from client.accumulator import RecordFuture

BATCH_BYTES = 1_000_000
LINGER_MS = 5
SAMPLE_EVERY = 256  # one future kept per this many records, enough to see every batch


def confluent(bootstrap: str, topic: str, count: int, value: bytes, acks: str, idempotent: bool,
              partitions: int) -> float:
    """Seconds for confluent-kafka to produce ``count`` records and have them acknowledged."""
    producer = ConfluentProducer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": LINGER_MS,
        "batch.size": BATCH_BYTES,
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 2_000_000,
        "enable.idempotence": idempotent,
        "partitioner": "murmur2_random",
    })
    failures = 0

    def on_delivery(err: object, _message: object) -> None:
        nonlocal failures
        if err is not None:
            failures += 1

    produce = producer.produce
    started = time.perf_counter()
    for i in range(count):
        try:
            produce(topic, value, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.01)
            produce(topic, value, on_delivery=on_delivery)
        if i & 0xFFFF == 0:
            producer.poll(0)
    left = producer.flush(300)
    elapsed = time.perf_counter() - started
    if left or failures:
        raise RuntimeError(f"confluent-kafka: {left} records not delivered, {failures} failed")
    return elapsed


def _options(acks: str, idempotent: bool, count: int, size: int) -> dict:
    return {
        "acks": acks if acks == "all" else int(acks),
        "linger_ms": LINGER_MS,
        "batch_size": BATCH_BYTES,
        "buffer_memory": max(64 * 1024 * 1024, min(count * (size + 20), 512 * 1024 * 1024)),
        "enable_idempotence": idempotent,
    }


def _check(samples: list[RecordFuture], what: str) -> None:
    failed = [f.exception() for f in samples if f.exception() is not None]
    if failed or not all(f.done() for f in samples):
        raise RuntimeError(f"{what}: {len(failed)} sampled records failed: {failed[:1]}")


def sdk_async(bootstrap: str, topic: str, count: int, value: bytes, acks: str,
              idempotent: bool, await_each: bool) -> float:
    """Seconds for the async SDK producer (send_nowait per record, or await send)."""

    async def run() -> float:
        async with Producer(bootstrap, **_options(acks, idempotent, count, len(value))) as producer:
            await producer.wait_for_topic(topic)
            samples: list[RecordFuture] = []
            send_nowait = producer.send_nowait
            send = producer.send
            checkpoint = trio.lowlevel.checkpoint
            started = time.perf_counter()
            if await_each:
                for i in range(count):
                    future = await send(topic, value)
                    if not i % SAMPLE_EVERY:
                        samples.append(future)
            else:
                for i in range(count):
                    try:
                        future = send_nowait(topic, value)
                    except trio.WouldBlock:
                        future = await send(topic, value)
                    if not i % SAMPLE_EVERY:
                        samples.append(future)
                        if not i % (SAMPLE_EVERY * 4):
                            await checkpoint()  # let the sender task overlap with us
            await producer.flush()
            elapsed = time.perf_counter() - started
            _check(samples, "sdk")
            return elapsed

    return trio.run(run)


def sdk_sync(bootstrap: str, topic: str, count: int, value: bytes, acks: str,
             idempotent: bool) -> float:
    """Seconds for the blocking SDK producer of ``client.sync``."""
    options = _options(acks, idempotent, count, len(value))
    with client.sync.Producer(bootstrap, **options) as producer:
        producer.partitions_for(topic)
        samples: list[RecordFuture] = []
        send = producer.send
        started = time.perf_counter()
        for i in range(count):
            future = send(topic, value)
            if not i % SAMPLE_EVERY:
                samples.append(future)
        producer.flush()
        elapsed = time.perf_counter() - started
        _check(samples, "sdk sync")
        return elapsed


def run(bootstrap: str, count: int, size: int, acks: str, idempotent: bool, partitions: int,
        rounds: int, consume: bool = True) -> list[tuple[str, float]]:
    """Best records/s of each client over ``rounds`` rounds, in one list of (name, rate):
    the producers, then (``consume``) the consumers, each group led by confluent-kafka."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    value = b"v" * size
    clients: list[tuple[str, Callable[[str], float]]] = [
        ("confluent-kafka produce()", lambda t: confluent(
            bootstrap, t, count, value, acks, idempotent, partitions)),
        ("sdk async send_nowait()", lambda t: sdk_async(
            bootstrap, t, count, value, acks, idempotent, await_each=False)),
        ("sdk async await send()", lambda t: sdk_async(
            bootstrap, t, count, value, acks, idempotent, await_each=True)),
        ("sdk sync send()", lambda t: sdk_sync(bootstrap, t, count, value, acks, idempotent)),
    ]
    best: dict[str, float] = {}
    topic = ""
    for _ in range(rounds):
        for name, produce in clients:
            topic = "sdk-bench-" + uuid.uuid4().hex[:8]
            admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
            rate = count / produce(topic)
            best[name] = max(best.get(name, 0.0), rate)
    rows = [(name, best[name]) for name, _ in clients]
    if consume:
        rows += _consumers(bootstrap, topic, count, size, partitions, rounds)
    return rows


def _consumers(bootstrap: str, topic: str, count: int, size: int, partitions: int,
               rounds: int) -> list[tuple[str, float]]:
    """Best records/s of confluent-kafka's and the SDK's consumer reading ``topic`` from
    offset 0, taking turns so that both see the same load on the machine."""
    readers = [("confluent-kafka consume()", confluent_consume),
               ("sdk async poll()", sdk_consume)]
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, read in readers:
            out = read(bootstrap, topic, count, size, partitions)
            best[name] = max(best.get(name, 0.0), out["records"] / out["seconds"])
    return [(name, best[name]) for name, _ in readers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["0", "1", "all"])
    parser.add_argument("--idempotent", action="store_true", help="idempotence on in both")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-consume", dest="consume", action="store_false",
                        help="measure the producers only")
    args = parser.parse_args()
    if args.idempotent and args.acks != "all":
        parser.error("--idempotent needs --acks all")
    settings = (args.records, args.size, args.acks, args.idempotent, args.partitions, args.rounds,
                args.consume)
    if args.bootstrap:
        rows = run(args.bootstrap, *settings)
    else:
        with local_broker() as bootstrap:
            rows = run(bootstrap, *settings)
    print(
        f"{args.records:,} records x {args.size} B, {args.partitions} partition(s), "
        f"acks={args.acks}, idempotence {'on' if args.idempotent else 'off'}, "
        f"linger {LINGER_MS} ms, {BATCH_BYTES:,} B batches"
    )
    width = max(len(name) for name, _ in rows)
    baseline = rows[0][1]
    for name, rate in rows:
        if name.startswith("confluent-kafka"):
            baseline = rate  # each group's ratios are to the confluent-kafka row leading it
        print(f"{name:<{width}}  {rate:>12,.0f} records/s  {rate / baseline:5.2f}x confluent-kafka")


if __name__ == "__main__":
    main()
