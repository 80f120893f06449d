"""Producer against fake brokers: delivery, batching, partitioning, retries, idempotence."""

from __future__ import annotations

import pytest
import trio

from client.errors import (
    BufferFullError,
    ClientClosedError,
    KafkaTimeoutError,
    MessageTooLargeError,
    TopicAuthorizationFailedError,
)
from client.producer import Producer
from client.protocol import ApiKey, ErrorCode
from client.records import Compression, murmur2_partition
from unit.sdk.fake_broker import FakeBroker


def fast(**options: object) -> dict:
    """Options that keep retries quick in tests."""
    base = {"retry_backoff_ms": 5, "retry_backoff_max_ms": 20, "linger_ms": 1}
    base.update(options)
    return base


async def test_send_returns_offsets_and_records_arrive(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        first = await producer.send_and_wait("t", b"v0", key=b"k", headers=[("h", b"1")])
        futures = [await producer.send("t", b"v%d" % i, key=b"k") for i in range(1, 5)]
        await producer.flush()
    results = [f.result() for f in futures]
    partition = murmur2_partition(b"k", 3)
    assert first.partition == partition and first.offset == 0
    assert [r.offset for r in results] == [1, 2, 3, 4]
    assert all(r.partition == partition and r.topic == "t" for r in results)
    records = fake.state.records("t", partition)
    assert [r.value for r in records] == [b"v%d" % i for i in range(5)]
    assert records[0].headers == [("h", b"1")]
    assert [r.key for r in records] == [b"k"] * 5


async def test_explicit_partition_and_timestamp(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        meta = await producer.send_and_wait("t", b"x", partition=1, timestamp=1234)
        keyed = await producer.send_and_wait("t", None, key=b"tomb", partition=2)
    assert (meta.partition, meta.timestamp) == (1, 1234)
    assert fake.state.records("t", 1)[0].timestamp == 1234
    assert keyed.partition == 2 and fake.state.records("t", 2)[0].value is None


async def test_bad_partition_and_types_raise_at_once(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        await producer.wait_for_topic("t")
        with pytest.raises(ValueError, match="no partition 7"):
            producer.send_nowait("t", b"x", partition=7)
        with pytest.raises(TypeError, match="value_serializer"):
            producer.send_nowait("t", "text")
        with pytest.raises(MessageTooLargeError):
            producer.send_nowait("t", b"x" * 2_000_000)


async def test_serializers(fake: FakeBroker) -> None:
    options = fast(value_serializer=str.encode, key_serializer=lambda k: str(k).encode())
    async with Producer(fake.bootstrap, **options) as producer:
        meta = await producer.send_and_wait("t", "hello", key=7)
    record = fake.state.records("t", meta.partition)[0]
    assert (record.key, record.value) == (b"7", b"hello")


async def test_keyless_records_stick_then_move(fake: FakeBroker) -> None:
    fake.state.add_topic("s", 4)
    # small batches: every sealed batch moves the sticky partition elsewhere
    async with Producer(fake.bootstrap, **fast(batch_size=500, linger_ms=1000)) as producer:
        futures = [await producer.send("s", b"x" * 100) for _ in range(40)]
        await producer.flush()
    partitions = [f.result().partition for f in futures]
    runs = [partitions[0]]
    for p in partitions[1:]:
        if p != runs[-1]:
            runs.append(p)
    # consecutive records share a partition for a whole batch, and batches move on
    assert len(runs) >= 3
    assert len(runs) <= len(partitions) // 3
    assert all(a != b for a, b in zip(runs, runs[1:]))


async def test_linger_groups_records_into_one_batch(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(linger_ms=50)) as producer:
        await producer.wait_for_topic("t")
        futures = [producer.send_nowait("t", b"r%d" % i, partition=0) for i in range(20)]
        await futures[-1]
    assert len(fake.state.batches("t", 0)) == 1
    assert fake.state.batches("t", 0)[0].record_count == 20


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_compression(fake: FakeBroker, codec: str) -> None:
    async with Producer(fake.bootstrap, **fast(compression_type=codec)) as producer:
        await producer.send_and_wait("t", b"compress me " * 50, partition=0)
    batch = fake.state.batches("t", 0)[0]
    assert batch.compression == Compression[codec.upper()]
    assert batch.records[0].value == b"compress me " * 50


async def test_idempotent_batches_carry_sequences(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(batch_size=300)) as producer:
        for i in range(12):
            await producer.send("t", b"x" * 90, partition=0)
        await producer.flush()
    batches = fake.state.batches("t", 0)
    assert fake.count(ApiKey.INIT_PRODUCER_ID) == 1
    assert len({b.producer_id for b in batches}) == 1 and batches[0].producer_id > 0
    expected = 0
    for batch in batches:
        assert batch.base_sequence == expected
        expected += batch.record_count
    assert expected == 12


async def test_not_idempotent_when_acks_one(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(acks=1)) as producer:
        await producer.send_and_wait("t", b"x", partition=0)
    assert fake.count(ApiKey.INIT_PRODUCER_ID) == 0
    assert fake.state.batches("t", 0)[0].producer_id == -1


async def test_acks_zero_completes_without_offsets(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(acks=0)) as producer:
        meta = await producer.send_and_wait("t", b"x", partition=0)
        assert meta.offset == -1
        await trio.sleep(0.05)
    assert fake.state.records("t", 0)[0].value == b"x"


async def test_retriable_errors_are_retried_in_order(fake: FakeBroker) -> None:
    failures = {"left": 3}

    def flaky(header, body):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            return {"responses": [
                {"name": t["name"], "partition_responses": [
                    {"index": p["index"], "error_code": ErrorCode.NOT_ENOUGH_REPLICAS,
                     "base_offset": -1} for p in t["partition_data"]]}
                for t in body["topic_data"]]}
        return fake._produce(header, body)

    fake.hooks[ApiKey.PRODUCE] = flaky
    async with Producer(fake.bootstrap, **fast(batch_size=200)) as producer:
        await producer.wait_for_topic("t")
        futures = [producer.send_nowait("t", b"%03d" % i + b"x" * 60, partition=0)
                   for i in range(30)]
        await producer.flush()
    assert [f.result().offset for f in futures] == list(range(30))
    values = [r.value[:3] for r in fake.state.records("t", 0)]
    assert values == [b"%03d" % i for i in range(30)]


async def test_lost_response_is_not_duplicated(fake: FakeBroker) -> None:
    """The broker appends the batch but the connection dies before the response: the
    resend is recognised by its sequence and nothing is written twice."""
    dropped = {"done": False}

    async def append_then_hang(header, body):  # type: ignore[no-untyped-def]
        reply = fake._produce(header, body)
        if not dropped["done"]:
            dropped["done"] = True
            await trio.sleep(10)  # longer than the request timeout below
        return reply

    fake.hooks[ApiKey.PRODUCE] = append_then_hang
    options = fast(request_timeout_ms=300, delivery_timeout_ms=20_000)
    async with Producer(fake.bootstrap, **options) as producer:
        with trio.fail_after(10):
            meta = await producer.send_and_wait("t", b"once", partition=0)
    assert meta.offset == 0
    assert [r.value for r in fake.state.records("t", 0)] == [b"once"]


async def test_leader_move_is_followed(nursery: trio.Nursery, fake: FakeBroker) -> None:
    other = await FakeBroker(fake.state, 1).start(nursery)
    async with Producer(fake.bootstrap, **fast()) as producer:
        await producer.send_and_wait("t", b"a", partition=0)
        fake.state.leaders[("t", 0)] = 1
        fake.state.leader_epochs[("t", 0)] = 1
        meta = await producer.send_and_wait("t", b"b", partition=0)
    assert meta.offset == 1
    assert other.count(ApiKey.PRODUCE) == 1
    assert [r.value for r in fake.state.records("t", 0)] == [b"a", b"b"]


async def test_unknown_producer_id_bumps_epoch_and_renumbers(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        await producer.send_and_wait("t", b"a", partition=0)
        # the broker forgets the producer (as after losing its state): sequence 1 is a gap
        fake.state.sequences.clear()
        answered = {"once": False}

        def forget(header, body):  # type: ignore[no-untyped-def]
            if not answered["once"]:
                answered["once"] = True
                return {"responses": [
                    {"name": t["name"], "partition_responses": [
                        {"index": p["index"], "error_code": ErrorCode.UNKNOWN_PRODUCER_ID,
                         "base_offset": -1} for p in t["partition_data"]]}
                    for t in body["topic_data"]]}
            return fake._produce(header, body)

        fake.hooks[ApiKey.PRODUCE] = forget
        meta = await producer.send_and_wait("t", b"b", partition=0)
    assert meta.offset == 1
    assert fake.count(ApiKey.INIT_PRODUCER_ID) == 2
    last = fake.state.batches("t", 0)[-1]
    assert last.base_sequence == 0  # renumbered from zero under the new epoch


async def test_non_retriable_error_fails_the_future(fake: FakeBroker) -> None:
    def deny(header, body):  # type: ignore[no-untyped-def]
        return {"responses": [
            {"name": t["name"], "partition_responses": [
                {"index": p["index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                 "base_offset": -1} for p in t["partition_data"]]}
            for t in body["topic_data"]]}

    fake.hooks[ApiKey.PRODUCE] = deny
    async with Producer(fake.bootstrap, **fast()) as producer:
        future = await producer.send("t", b"x", partition=0)
        with pytest.raises(TopicAuthorizationFailedError) as info:
            await future
        assert info.value.name == "TOPIC_AUTHORIZATION_FAILED"
        assert future.done() and future.exception() is info.value


async def test_delivery_timeout_fails_with_last_error(fake: FakeBroker) -> None:
    def busy(header, body):  # type: ignore[no-untyped-def]
        return {"responses": [
            {"name": t["name"], "partition_responses": [
                {"index": p["index"], "error_code": ErrorCode.NOT_ENOUGH_REPLICAS,
                 "base_offset": -1} for p in t["partition_data"]]}
            for t in body["topic_data"]]}

    fake.hooks[ApiKey.PRODUCE] = busy
    options = fast(delivery_timeout_ms=400, request_timeout_ms=200, linger_ms=0)
    async with Producer(fake.bootstrap, **options) as producer:
        future = await producer.send("t", b"x", partition=0)
        with trio.fail_after(5):
            with pytest.raises(KafkaTimeoutError, match="NOT_ENOUGH_REPLICAS"):
                await future
        assert fake.count(ApiKey.PRODUCE) >= 2


async def test_buffer_full_blocks_then_raises(fake: FakeBroker) -> None:
    async def never(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    fake.hooks[ApiKey.PRODUCE] = never
    options = fast(buffer_memory=2000, max_block_ms=100, batch_size=500)
    async with Producer(fake.bootstrap, **options) as producer:
        await producer.wait_for_topic("t")
        sent = 0
        with pytest.raises(trio.WouldBlock):
            for _ in range(100):
                producer.send_nowait("t", b"x" * 100)
                sent += 1
        assert 0 < sent < 30
        with pytest.raises(BufferFullError):
            await producer.send("t", b"x" * 100)
        await producer.close(timeout=0.1)


async def test_buffer_space_returns_after_delivery(fake: FakeBroker) -> None:
    options = fast(buffer_memory=3000, batch_size=600, linger_ms=0)
    async with Producer(fake.bootstrap, **options) as producer:
        futures = [await producer.send("t", b"x" * 100) for _ in range(200)]
        await producer.flush()
    assert all(f.done() and f.exception() is None for f in futures)
    assert sum(len(fake.state.records("t", p)) for p in range(3)) == 200


async def test_close_fails_undeliverable_records(fake: FakeBroker) -> None:
    async def never(header, body):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    fake.hooks[ApiKey.PRODUCE] = never
    producer = Producer(fake.bootstrap, **fast())
    await producer.start()
    future = await producer.send("t", b"x")
    await producer.close(timeout=0.1)
    with pytest.raises(ClientClosedError):
        future.result()
    with pytest.raises(ClientClosedError):
        await producer.send("t", b"y")


async def test_new_topic_waits_for_metadata(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        async with trio.open_nursery() as nursery:

            async def create() -> None:
                await trio.sleep(0.1)
                fake.state.add_topic("late", 2)

            nursery.start_soon(create)
            meta = await producer.send_and_wait("late", b"x")
    assert meta.topic == "late" and meta.partition in (0, 1)


async def test_send_nowait_before_metadata_would_block(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        with pytest.raises(trio.WouldBlock, match="metadata"):
            producer.send_nowait("t", b"x")
        assert await producer.partitions_for("t") == [0, 1, 2]
        producer.send_nowait("t", b"x")


async def test_broker_without_init_producer_id(fake: FakeBroker) -> None:
    del fake.advertised[ApiKey.INIT_PRODUCER_ID]
    async with Producer(fake.bootstrap, **fast()) as producer:
        meta = await producer.send_and_wait("t", b"x", partition=0)
        assert producer.options["enable_idempotence"] is False
    assert meta.offset == 0 and fake.state.batches("t", 0)[0].producer_id == -1
    with pytest.raises(Exception, match="INIT_PRODUCER_ID"):
        async with Producer(fake.bootstrap, enable_idempotence=True, **fast()):
            pass


async def test_bad_header_refused_at_send(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast()) as producer:
        await producer.wait_for_topic("t")
        bad_headers: list = [("h", 12)]
        with pytest.raises(TypeError, match="headers"):
            producer.send_nowait("t", b"x", partition=0, headers=bad_headers)
        good = producer.send_nowait("t", b"y", partition=0, headers=[("h", b"1")])
        assert (await good).offset == 0
    batch = fake.state.batches("t", 0)[0]
    assert [r.value for r in batch.records] == [b"y"]


async def test_unencodable_batch_fails_alone(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(linger_ms=20)) as producer:
        await producer.wait_for_topic("t")
        bad = producer.send_nowait("t", b"x", partition=0, timestamp=2**70)  # beyond int64
        good = producer.send_nowait("t", b"y", partition=1)
        await producer.flush()
        with pytest.raises(ValueError):
            bad.result()
        assert good.result().offset == 0
        # the failed batch's sequence numbers were renumbered away: partition 0 still works
        assert (await producer.send_and_wait("t", b"z", partition=0)).offset == 0


async def test_every_record_of_a_failed_batch_gets_the_error(fake: FakeBroker) -> None:
    def deny(header, body):  # type: ignore[no-untyped-def]
        return {"responses": [
            {"name": t["name"], "partition_responses": [
                {"index": p["index"], "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                 "base_offset": -1} for p in t["partition_data"]]}
            for t in body["topic_data"]]}

    fake.hooks[ApiKey.PRODUCE] = deny
    async with Producer(fake.bootstrap, **fast(linger_ms=50)) as producer:
        await producer.wait_for_topic("t")
        futures = [producer.send_nowait("t", b"%d" % i, partition=1) for i in range(10)]
        assert len({id(f.batch) for f in futures}) == 1  # one batch, one shared outcome
        await producer.flush()
    errors = [f.exception() for f in futures]
    assert all(isinstance(e, TopicAuthorizationFailedError) for e in errors)
    assert all(e is errors[0] for e in errors)
    for future in futures:
        with pytest.raises(TopicAuthorizationFailedError):
            await future


async def test_delivered_batches_leave_their_buffer_to_the_next(fake: FakeBroker) -> None:
    async with Producer(fake.bootstrap, **fast(batch_size=4000, linger_ms=1000)) as producer:
        await producer.wait_for_topic("t")
        pool = producer._acc.pool
        futures = []
        for round_ in range(5):
            futures += [producer.send_nowait("t", b"%02d-%02d" % (round_, i) + b"." * 95,
                                             partition=2) for i in range(20)]
            await producer.flush()
            # one buffer serves every round: taken for the batch, given back on delivery
            assert len(pool.free) == 1
    assert [f.result().offset for f in futures] == list(range(100))
    values = [r.value[:5] for r in fake.state.records("t", 2)]
    assert values == [b"%02d-%02d" % (r, i) for r in range(5) for i in range(20)]


async def test_sender_starts_nothing_once_closed(fake: FakeBroker) -> None:
    # the sender may run once more after close() (woken before it was cancelled): a reset or
    # a send it would start then has no task group left to run in
    producer = Producer(fake.bootstrap, **fast(acks="all"))
    await producer.start()
    await producer.send_and_wait("t", b"x", partition=0)
    await producer.close()
    producer._reset_needed = True
    assert producer._drain(trio.current_time()) == (False, None)
