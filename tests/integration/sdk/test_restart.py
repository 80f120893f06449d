"""The idempotent producer across broker restarts: nothing lost, nothing twice, no error."""

from __future__ import annotations

import signal
from collections import Counter

import trio

from client import Admin, NewTopic, Producer
from client.accumulator import RecordFuture
from harness.broker import BrokerProcess
from integration.sdk.reader import read_all

STREAM_SECONDS = 10.0
PARTITIONS = 3


async def test_stream_survives_sigterm_then_kill_9(
    fresh_broker: BrokerProcess, topic_name: str
) -> None:
    async with Admin(fresh_broker.bootstrap) as admin:
        await admin.create_topics([NewTopic(topic_name, PARTITIONS)])
    futures: list[RecordFuture] = []
    options = {"linger_ms": 5, "retry_backoff_ms": 50, "retry_backoff_max_ms": 500}
    async with Producer(fresh_broker.bootstrap, **options) as producer:
        assert producer.options["enable_idempotence"]

        async def stream() -> None:
            start = trio.current_time()
            sequence = 0
            while trio.current_time() - start < STREAM_SECONDS:
                for _ in range(200):
                    futures.append(await producer.send(topic_name, b"%09d" % sequence))
                    sequence += 1
                await trio.sleep(0.01)

        async def restarts() -> None:
            await trio.sleep(3)
            await trio.to_thread.run_sync(fresh_broker.restart, signal.SIGTERM)
            await trio.sleep(3)
            await trio.to_thread.run_sync(fresh_broker.restart, signal.SIGKILL)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream)
            nursery.start_soon(restarts)
        await producer.flush()

    errors = [f.exception() for f in futures if f.exception() is not None]
    assert errors == []
    # the restarts really interrupted deliveries: some batches needed more than one attempt
    assert any(f.batch.attempts > 1 for f in futures)
    sent = [b"%09d" % i for i in range(len(futures))]
    records = read_all(fresh_broker.bootstrap, topic_name, PARTITIONS)
    values = [r.value for r in records]
    duplicates = [v for v, n in Counter(values).items() if n > 1]
    assert duplicates == []
    assert sorted(values) == sent  # none lost
    for partition in range(PARTITIONS):
        mine = [r.value for r in records if r.partition == partition]
        assert mine == sorted(mine)  # per-partition order kept through the retries
    by_position = {(r.partition, r.offset): r.value for r in records}
    for i, future in enumerate(futures):
        meta = future.result()
        assert by_position[(meta.partition, meta.offset)] == b"%09d" % i
