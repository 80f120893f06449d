"""``rillet produce TOPIC``: send lines from stdin as records, or generated load.

::

    printf 'a\\nb\\n' | rillet produce events
    printf 'user1:clicked\\n' | rillet produce events --key-separator :
    rillet produce events --generate 100000 --size 512 --acks 1 --compression lz4

Each input line (without its line ending) is one record's value, or ``KEY<sep>VALUE`` with
``--key-separator`` (split at the first separator). ``--generate N --size BYTES`` sends N
records of BYTES random letters and digits each, with a progress bar, and prints the throughput.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

import click

from client.accumulator import RecordFuture
from client.cli.options import client_options, connection_options, non_empty, parse_pairs
from client.cli.render import data_command, progress, rate_line
from client.errors import KafkaError
from client.sync import Producer

PROGRESS_STEP = 1000
DELIVERY_TIMEOUT_MS = 120_000


class DeliveryTracker:
    """Notes failed deliveries from the records' future callbacks, so that the command can
    report the first error and how many records were not delivered."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: BaseException | None = None

    def __call__(self, future: RecordFuture) -> None:
        error = future.exception()
        if error is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = error

    def check(self) -> None:
        """Raise the first delivery error, if any record failed."""
        error = self.first_error
        if error is None:
            return
        if isinstance(error, KafkaError) and self.failed > 1:
            raise type(error)(
                f"{error.message or error.name} ({self.failed} records not delivered)"
            ) from error
        raise error


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    for line in stream:
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        yield line


def _split(lines: Iterable[bytes], separator: bytes | None) -> Iterator[tuple[bytes | None, bytes]]:
    for number, line in enumerate(lines, 1):
        if separator is None:
            yield None, line
            continue
        key, sep, value = line.partition(separator)
        if not sep:
            raise click.UsageError(f"line {number} has no key separator {separator!r}")
        yield key, value


@data_command(None, "produce")
@click.argument("topic")
@click.option("--key-separator", default=None, metavar="SEP", callback=non_empty,
              help="Split each line at the first SEP into key and value.")
@click.option("--partition", type=click.IntRange(min=0), default=None,
              help="Send every record to this partition (default: by key, or spread).")
@click.option("--acks", type=click.Choice(["0", "1", "all", "-1"]), default="all",
              show_default=True, help="Replicas that must have a record before it counts.")
@click.option("--compression", type=click.Choice(["none", "gzip", "snappy", "lz4", "zstd"]),
              default="none", show_default=True, help="Batch compression codec.")
@click.option("--header", "headers", multiple=True, metavar="KEY=VALUE",
              help="A header added to every record; repeatable.")
@click.option("--generate", type=click.IntRange(min=1), default=None, metavar="N",
              help="Send N generated records instead of reading stdin.")
@click.option("--size", type=click.IntRange(min=0), default=100, show_default=True,
              metavar="BYTES", help="Value size of generated records.")
@connection_options
def produce(
    topic: str,
    key_separator: str | None,
    partition: int | None,
    acks: str,
    compression: str,
    headers: tuple[str, ...],
    generate: int | None,
    size: int,
    bootstrap: str,
    timeout: float,
) -> str:
    """Send records to TOPIC: one per stdin line, or --generate N of --size BYTES."""
    header_list = [(k, v.encode()) for k, v in parse_pairs(headers, "--header").items()]
    options: dict[str, Any] = {
        **client_options(bootstrap, timeout),
        "acks": acks,
        "compression_type": compression,
    }
    # a record may take a whole request timeout to deliver, however long that is set
    options["delivery_timeout_ms"] = max(DELIVERY_TIMEOUT_MS, options["request_timeout_ms"] * 2)
    tracker = DeliveryTracker()
    with Producer(**options) as producer:
        if partition is not None and partition not in producer.partitions_for(topic):
            raise click.UsageError(f"topic {topic} has no partition {partition}")
        started = time.monotonic()
        if generate is not None:
            sent = _send_generated(producer, topic, generate, size, partition, header_list, tracker)
        else:
            separator = key_separator.encode() if key_separator is not None else None
            stdin = click.get_binary_stream("stdin")
            sent = 0
            for key, value in _split(_lines(stdin), separator):
                future = producer.send(topic, value, key=key, headers=header_list or None,
                                       partition=partition)
                future.add_done_callback(tracker)
                sent += 1
        producer.flush()
        elapsed = time.monotonic() - started
    tracker.check()
    if generate is not None:
        return rate_line(sent, sent * size, elapsed)
    return f"sent {sent} record{'s' if sent != 1 else ''} to {topic}"


def _send_generated(
    producer: Producer,
    topic: str,
    count: int,
    size: int,
    partition: int | None,
    headers: list[tuple[str, bytes]],
    tracker: DeliveryTracker,
) -> int:
    """Send ``count`` records of ``size`` bytes (fewer once a delivery failed); the number
    sent."""
    value = "".join(random.choices(string.ascii_letters + string.digits, k=size)).encode()
    send_options = {"headers": headers or None, "partition": partition}
    sent = 0
    with progress(count, f"producing to {topic}") as advance:
        while sent < count and tracker.first_error is None:
            step = min(PROGRESS_STEP, count - sent)
            for _ in range(step):
                producer.send(topic, value, **send_options).add_done_callback(tracker)
            sent += step
            advance(step)
    return sent
