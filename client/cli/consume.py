"""``rillet consume TOPIC``: print records, from a chosen position or as a group member.

::

    rillet consume events --from earliest --count 10
    rillet consume events --partition 2 --from 1500 --format kv
    rillet consume events --from @1700000000000 --format json
    rillet consume events --group audit --follow

Without ``--group`` the partitions (all, or ``--partition``) are assigned directly and read
from ``--from`` (default earliest); nothing is committed. With ``--group`` the topic is
subscribed, ``--from earliest|latest`` applies where the group has no committed offset, and
positions are committed after every batch printed. The command stops after ``--count``
records, or, without ``--follow``, once every partition it reads has reached the end offset
it had when the command started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from client.cli.options import POSITION, Position, client_options, connection_options, non_empty
from client.cli.render import Stream, data_command, record_line
from client.sync import Admin, Consumer

POLL_TIMEOUT_MS = 500
FORMATS = ("value", "kv", "json")


def _start_positions(consumer: Any, tps: list[tuple[str, int]], start: Position) -> None:
    """Seek each assigned partition to ``start``."""
    if start.kind == "earliest":
        consumer.seek_to_beginning(*tps)
    elif start.kind == "latest":
        consumer.seek_to_end(*tps)
    elif start.kind == "offset":
        for tp in tps:
            consumer.seek(tp, start.value)
    else:
        found = consumer.offsets_for_times({tp: start.value for tp in tps})
        for tp in tps:
            hit = found[tp]
            if hit is None:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)


class Reader:
    """Polls a consumer until ``count`` records were read or, unless following, every
    partition read reached its end offset from the start."""

    def __init__(
        self,
        consumer: Any,
        count: int | None,
        follow: bool,
        ends: dict[tuple[str, int], int],
        commit: bool,
    ) -> None:
        self.consumer = consumer
        self.remaining = count
        self.follow = follow
        self.ends = ends
        self.commit = commit
        self._done: set[tuple[str, int]] = set()  # positions only move forward

    def _caught_up(self) -> bool:
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        for tp in assigned:
            # TopicPartition is a named tuple: it finds the (topic, partition) keys of `ends`
            if tp not in self._done and self.consumer.position(tp) >= self.ends.get(tp, 0):
                self._done.add(tp)
        return all(tp in self._done for tp in assigned)

    def batches(self) -> Iterator[list[Any]]:
        """Lists of records, as they are polled."""
        while self.remaining is None or self.remaining > 0:
            if not self.follow and self._caught_up():
                return
            records = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=self.remaining)
            if not records:
                continue
            if self.remaining is not None:
                self.remaining -= len(records)
            yield records
            if self.commit:
                # records of a partition come in offset order: the last one wins
                self.consumer.commit({(r.topic, r.partition): r.offset + 1 for r in records})


def _chunks(consumer: Any, reader: Reader, fmt: str, separator: bytes) -> Iterator[bytes]:
    with consumer:
        for records in reader.batches():
            yield b"".join(record_line(r, fmt, separator) for r in records)


@data_command(None, "consume")
@click.argument("topic")
@click.option("--from", "start", type=POSITION, default=None,
              help="Where to start: earliest (default), latest, an offset or @TIMESTAMP_MS.")
@click.option("--partition", type=click.IntRange(min=0), default=None,
              help="Read only this partition (default: all).")
@click.option("--count", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N records.")
@click.option("--follow", is_flag=True, help="Keep waiting for new records.")
@click.option("--group", default=None, metavar="GROUP",
              help="Consume as a member of GROUP and commit what was printed.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="value",
              show_default=True,
              help="value; kv (key, separator, value); json (one object per record).")
@click.option("--key-separator", default="\t", show_default="tab", metavar="SEP",
              callback=non_empty,
              help="What separates key and value in --format kv.")
@connection_options
def consume(
    topic: str,
    start: Position | None,
    partition: int | None,
    count: int | None,
    follow: bool,
    group: str | None,
    fmt: str,
    key_separator: str,
    bootstrap: str,
    timeout: float,
) -> Stream:
    """Print records of TOPIC."""
    start = start or Position("earliest")
    options: dict[str, Any] = {
        **client_options(bootstrap, timeout),
        "enable_auto_commit": False,
        "allow_auto_create_topics": False,
    }
    if group is not None:
        if start.kind not in ("earliest", "latest"):
            raise click.UsageError(
                "with --group, --from is earliest or latest (for partitions without a "
                "committed offset); move a group with `rillet group reset-offsets`"
            )
        if partition is not None:
            raise click.UsageError("--partition and --group cannot be combined")
        options.update(group_id=group, auto_offset_reset=start.kind)
    # asked first, so that a topic that does not exist fails at once instead of being waited for
    with Admin(**client_options(bootstrap, timeout)) as admin:
        partitions = [p.partition for p in admin.describe_topics([topic])[topic].partitions]
    if partition is not None:
        if partition not in partitions:
            raise click.UsageError(f"topic {topic} has no partition {partition}")
        partitions = [partition]
    consumer = Consumer(**options)
    try:
        tps = [(topic, p) for p in partitions]
        ends = dict(consumer.end_offsets(tps))
        if group is None:
            consumer.assign(tps)
            _start_positions(consumer, tps, start)
        else:
            consumer.subscribe([topic])
    except BaseException:
        consumer.close()
        raise
    reader = Reader(consumer, count, follow, ends, commit=group is not None)
    return Stream(_chunks(consumer, reader, fmt, key_separator.encode()))
