"""Pure pieces of the SDK: options, errors, backoff, accumulator bookkeeping."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import trio

from client.accumulator import Accumulator, PartitionState, ProducerBatch
from client.errors import (
    ERROR_CLASSES,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageTooLargeError,
    NotLeaderOrFollowerError,
    UnknownServerErrorError,
    error_for,
    raise_for_code,
)
from client.network import Backoff, retry_until
from client.options import ADMIN_OPTIONS, PRODUCER_OPTIONS, validate_options
from client.producer import Producer
from client.protocol import ErrorCode
from client.records import Compression, murmur2_partition

# ---------------------------------------------------------------------------- options


def test_defaults_filled_and_normalized() -> None:
    given = {"acks": "all", "compression_type": "LZ4"}
    opts = validate_options("Producer", PRODUCER_OPTIONS, given)
    assert opts["acks"] == -1 and opts["compression_type"] is Compression.LZ4
    assert opts["linger_ms"] == PRODUCER_OPTIONS["linger_ms"].default


def test_unknown_options_named_with_suggestion() -> None:
    with pytest.raises(TypeError) as info:
        validate_options("Producer", PRODUCER_OPTIONS, {"batchsize": 1, "zzz": 2})
    assert "'batchsize' (did you mean 'batch_size'?)" in str(info.value)
    assert "'zzz'" in str(info.value)
    with pytest.raises(TypeError, match="acks"):
        validate_options("Admin", ADMIN_OPTIONS, {"acks": 1})


@pytest.mark.parametrize(("name", "value"), [
    ("acks", 2), ("acks", True), ("linger_ms", -1), ("batch_size", "big"),
    ("compression_type", "brotli"), ("enable_idempotence", "yes"), ("partitioner", 3),
])
def test_bad_values_name_the_option(name: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError), match=name):
        validate_options("Producer", PRODUCER_OPTIONS, {name: value})


def test_idempotence_follows_acks_unless_forced() -> None:
    assert Producer("h:1").options["enable_idempotence"] is True
    assert Producer("h:1", acks=1).options["enable_idempotence"] is False
    with pytest.raises(ValueError, match="acks must be 'all'"):
        Producer("h:1", acks=1, enable_idempotence=True)
    with pytest.raises(ValueError, match="max_in_flight"):
        Producer("h:1", enable_idempotence=True, max_in_flight_requests_per_connection=6)
    with pytest.raises(ValueError, match="delivery_timeout_ms"):
        Producer("h:1", delivery_timeout_ms=1000, request_timeout_ms=5000)


# ---------------------------------------------------------------------------- errors


def test_every_code_has_a_named_class() -> None:
    for code in ErrorCode:
        if code is ErrorCode.NONE:
            continue
        error = error_for(code, "ctx")
        assert type(error) is ERROR_CLASSES[code]
        assert error.name == code.name and error.error_code == code
        assert str(error) == f"[Error {int(code)}] {code.name}: ctx"


def test_flags_and_unknown_code() -> None:
    assert NotLeaderOrFollowerError.retriable and NotLeaderOrFollowerError.invalid_metadata
    assert not MessageTooLargeError.retriable
    assert isinstance(error_for(9999), UnknownServerErrorError)
    assert "9999" in str(error_for(9999))
    raise_for_code(0)
    with pytest.raises(KafkaError):
        raise_for_code(ErrorCode.INVALID_REQUEST)


# ---------------------------------------------------------------------------- backoff


def test_backoff_full_jitter_bounds() -> None:
    backoff = Backoff(100, 1000, rng=lambda: 1.0)
    assert [backoff.delay(a) for a in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert Backoff(100, 1000, rng=lambda: 0.0).delay(3) == 0.0
    jittered = Backoff(100, 1000, rng=random.Random(1).random)
    delays = [jittered.delay(2) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in delays) and len(set(delays)) > 100
    assert Backoff(100, 1000).ceiling(10_000) == 1.0


async def test_retry_until_retries_retriable_only() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NotLeaderOrFollowerError("moving")
        return "ok"

    hooks: list[KafkaError] = []

    async def hook(error: KafkaError) -> None:
        hooks.append(error)

    result = await retry_until(flaky, deadline=trio.current_time() + 5,
                               backoff=Backoff(1, 2), on_retriable=hook)
    assert result == "ok" and len(calls) == 3 and len(hooks) == 2

    async def fatal() -> None:
        calls.append(1)
        raise MessageTooLargeError("no")

    calls.clear()
    with pytest.raises(MessageTooLargeError):
        await retry_until(fatal, deadline=trio.current_time() + 5, backoff=Backoff(1, 2))
    assert len(calls) == 1


async def test_retry_until_gives_up_at_deadline() -> None:
    async def always() -> None:
        raise NotLeaderOrFollowerError("still moving")

    start = trio.current_time()
    with pytest.raises(NotLeaderOrFollowerError):
        await retry_until(always, deadline=start + 0.2, backoff=Backoff(10, 20))
    assert trio.current_time() - start < 1


async def test_retry_until_raises_last_error_when_an_attempt_hangs_past_deadline() -> None:
    # A bootstrap connect that is refused, then hangs until the deadline on a loaded
    # machine, must still report the refusal rather than a bare timeout.
    calls: list[int] = []

    async def refused_then_hangs() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KafkaConnectionError("refused")
        await trio.sleep_forever()

    with pytest.raises(KafkaConnectionError, match="refused"):
        await retry_until(refused_then_hangs, deadline=trio.current_time() + 0.2,
                          backoff=Backoff(1, 2))
    assert len(calls) == 2

    async def hangs() -> None:
        await trio.sleep_forever()

    with pytest.raises(KafkaTimeoutError):
        await retry_until(hangs, deadline=trio.current_time() + 0.05, backoff=Backoff(1, 2))


# ---------------------------------------------------------------------------- accumulator


def make(batch_size: int = 1000, buffer_memory: int = 10_000, **kw: object) -> Accumulator:
    acc = Accumulator(batch_size=batch_size, buffer_memory=buffer_memory,
                      delivery_timeout=60, clock=lambda: 0.0, **kw)  # type: ignore[arg-type]
    acc.add_topic("t", 6)
    return acc


def test_keyed_records_use_murmur2() -> None:
    acc = make()
    for i in range(50):
        key = b"key-%d" % i
        assert acc.append("t", b"v", key=key).batch.partition == murmur2_partition(key, 6)


def test_custom_partitioner_gets_kafka_python_arguments() -> None:
    seen = []

    def last(key: bytes, all_partitions: list[int], available: list[int]) -> int:
        seen.append((key, all_partitions, available))
        return all_partitions[-1]

    acc = make(partitioner=last)
    assert acc.append("t", b"v", key=b"k").batch.partition == 5
    assert seen == [(b"k", [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5])]


def test_sticky_partition_changes_only_when_a_batch_seals() -> None:
    random.seed(7)
    # 100 empty records (12 bytes of overhead each) plus the batch header fill a batch
    acc = make(batch_size=12 * 100 + 61, buffer_memory=10**7)
    partitions = [acc.append("t", b"").batch.partition for _ in range(1000)]
    runs = [partitions[0]]
    for p in partitions[1:]:
        if p != runs[-1]:
            runs.append(p)
    assert len(runs) == 10  # exactly one switch per sealed batch
    assert Counter(partitions).most_common(1)[0][1] % 100 == 0


def test_sticky_avoids_partitions_without_leader() -> None:
    acc = make(batch_size=100)
    acc.topics["t"].resize(6, [2, 4])
    partitions = {acc.append("t", b"x" * 100).batch.partition for _ in range(50)}
    assert partitions == {2, 4}


def test_columns_are_filled_in_lazily() -> None:
    acc = make()
    acc.append("t", b"a", partition=0)
    acc.append("t", b"b", partition=0, key=b"k", timestamp=5)
    future = acc.append("t", b"c", partition=0, headers=[("h", None)])
    batch = future.batch
    assert batch.keys == [None, b"k", None]
    assert batch.timestamps == [batch.created_ms, 5, batch.created_ms]
    assert batch.headers == [None, None, [("h", None)]]


def test_memory_is_reserved_per_batch_and_released() -> None:
    acc = make(batch_size=1000, buffer_memory=2500)
    acc.append("t", b"x", partition=0)
    assert acc.buffered == 1000 and not acc.full()
    acc.append("t", b"x", partition=1)
    assert acc.buffered == 2000 and acc.full()  # a third batch would pass 2500
    with pytest.raises(trio.WouldBlock):
        acc.append("t", b"x", partition=2)
    acc.append("t", b"y", partition=0)  # an open batch still takes records
    batches = acc.seal_all()
    assert acc.buffered == sum(b.size for b in batches)
    for batch in batches:
        acc.release(batch)
    assert acc.buffered == 0


def test_record_above_limit_refused() -> None:
    acc = make(max_record_size=500)
    with pytest.raises(MessageTooLargeError):
        acc.append("t", b"x" * 600)
    with pytest.raises(TypeError, match="value must be bytes"):
        acc.append("t", "text")  # type: ignore[arg-type]
    assert acc.append("t", bytearray(b"ok")).batch.values == [b"ok"]


def test_requeue_orders_by_sequence_before_unsent() -> None:
    part = PartitionState("t", 0)
    batches = []
    for seq in (0, 10, 20):
        batch = ProducerBatch("t", 0, 0.0, 60.0)
        batch.base_sequence = seq
        batches.append(batch)
    unsent = ProducerBatch("t", 0, 0.0, 60.0)
    part.ready.append(unsent)
    part.requeue(batches[2])
    part.requeue(batches[0])
    part.requeue(batches[1])
    assert list(part.ready) == [batches[0], batches[1], batches[2], unsent]
    assert part.has_retry()


def test_sequences_wrap_like_kafka() -> None:
    part = PartitionState("t", 0)
    part.next_sequence = 2**31 - 2
    assert part.take_sequence(5) == 2**31 - 2
    assert part.next_sequence == 3
