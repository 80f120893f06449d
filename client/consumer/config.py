"""The consumer's options: names and defaults as kafka-python and aiokafka spell them, checked
once when the consumer is built.

``CONSUMER_OPTIONS`` extends the SDK's ``COMMON_OPTIONS`` (``client.options``), so the
connection options are named and checked as for the producer and the admin client. Unknown
names raise a TypeError that lists them (with the closest known names), and bad values an
error naming the option, so a typo never silently falls back to a default. Times are
milliseconds, sizes bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from client.consumer.assignors import Assignor, resolve_assignors
from client.options import (
    COMMON_OPTIONS,
    Option,
    boolean,
    choice,
    function,
    integer,
    optional,
    string,
    validate_options,
)

__all__ = ["CONSUMER_OPTIONS", "ConsumerConfig", "consumer_config"]

OFFSET_RESET_ALIASES = {
    "earliest": "earliest",
    "smallest": "earliest",
    "latest": "latest",
    "largest": "latest",
    "none": "none",
}


def _offset_reset(value: Any) -> str:
    key = "none" if value is None else str(value).lower()
    if key not in OFFSET_RESET_ALIASES:
        raise ValueError("must be 'earliest', 'latest' or 'none'")
    return OFFSET_RESET_ALIASES[key]


def _strategy(value: Any) -> Any:
    resolve_assignors(value)  # raises for unknown names
    return value


def _bootstrap(value: Any) -> Any:
    if isinstance(value, str) or (
        isinstance(value, Sequence) and all(isinstance(v, str) for v in value)
    ):
        return value
    raise TypeError("expected 'host:port[,host:port...]' or a list of them")


def _positive_time(value: Any) -> float:
    if type(value) is bool or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("must be a positive number of milliseconds")
    return value


CONSUMER_OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "bootstrap_servers": Option("localhost:9092", _bootstrap, "brokers to start from"),
    "client_rack": Option(None, optional(string), "rack id sent with fetches and subscriptions"),
    "group_id": Option(None, optional(string), "consumer group; None: no group, no commits"),
    "group_instance_id": Option(None, optional(string), "static membership id"),
    "key_deserializer": Option(None, optional(function), "turns key bytes into objects"),
    "value_deserializer": Option(None, optional(function), "turns value bytes into objects"),
    "fetch_min_bytes": Option(1, integer(0), "bytes a fetch waits for"),
    "fetch_max_bytes": Option(52_428_800, integer(1), "bytes per fetch response"),
    "fetch_max_wait_ms": Option(500, integer(0), "how long a fetch waits for fetch_min_bytes"),
    "max_partition_fetch_bytes": Option(1_048_576, integer(1), "bytes per partition per fetch"),
    "fetch_buffer_bytes": Option(
        16_777_216, integer(1), "fetched bytes buffered ahead of the application"
    ),
    "max_poll_records": Option(500, integer(1), "records per poll()"),
    "max_poll_interval_ms": Option(300_000, integer(1), "longest gap between polls in a group"),
    "auto_offset_reset": Option("latest", _offset_reset, "where to start without a commit"),
    "enable_auto_commit": Option(True, boolean, "commit processed offsets periodically"),
    "auto_commit_interval_ms": Option(5_000, integer(1), "how often auto-commit runs"),
    "session_timeout_ms": Option(45_000, integer(1), "how long the group waits for heartbeats"),
    "heartbeat_interval_ms": Option(3_000, integer(1), "how often heartbeats go out"),
    "rebalance_timeout_ms": Option(
        None, optional(integer(1)), "how long a rebalance waits (default max_poll_interval_ms)"
    ),
    "partition_assignment_strategy": Option(
        ("range", "roundrobin"), _strategy, "assignor names, preferred first"
    ),
    "isolation_level": Option(
        "read_uncommitted", choice("read_uncommitted", "read_committed"),
        "whether records of open or aborted transactions are returned",
    ),
    "check_crcs": Option(True, boolean, "accepted for compatibility; CRCs are always checked"),
    "exclude_internal_topics": Option(True, boolean, "patterns never match __ topics"),
    "allow_auto_create_topics": Option(True, boolean, "let Metadata create subscribed topics"),
    "consumer_timeout_ms": Option(
        float("inf"), _positive_time, "async iteration ends after this long without records"
    ),
}


@dataclass(frozen=True)
class ConsumerConfig:
    """Validated consumer options (see ``CONSUMER_OPTIONS`` for what each does)."""

    bootstrap_servers: str | Sequence[str]
    client_id: str | None
    client_rack: str | None
    group_id: str | None
    group_instance_id: str | None
    key_deserializer: Callable[[bytes | None], Any] | None
    value_deserializer: Callable[[bytes | None], Any] | None
    fetch_min_bytes: int
    fetch_max_bytes: int
    fetch_max_wait_ms: int
    max_partition_fetch_bytes: int
    fetch_buffer_bytes: int
    max_poll_records: int
    max_poll_interval_ms: int
    auto_offset_reset: str
    enable_auto_commit: bool
    auto_commit_interval_ms: int
    session_timeout_ms: int
    heartbeat_interval_ms: int
    rebalance_timeout_ms: int | None
    partition_assignment_strategy: Any
    isolation_level: str
    check_crcs: bool
    exclude_internal_topics: bool
    allow_auto_create_topics: bool
    consumer_timeout_ms: float
    request_timeout_ms: int
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    metadata_max_age_ms: int
    max_in_flight_requests_per_connection: int
    socket_connection_setup_timeout_ms: int

    @property
    def assignors(self) -> list[Assignor]:
        """Fresh assignor instances for ``partition_assignment_strategy``."""
        return resolve_assignors(self.partition_assignment_strategy)

    @property
    def read_committed(self) -> bool:
        """Whether only committed transactional records are returned."""
        return self.isolation_level == "read_committed"

    @property
    def effective_rebalance_timeout_ms(self) -> int:
        """How long the coordinator waits for members to rejoin (max_poll_interval_ms unless
        set), as the Java client does."""
        if self.rebalance_timeout_ms is None:
            return self.max_poll_interval_ms
        return self.rebalance_timeout_ms


def consumer_config(**options: Any) -> ConsumerConfig:
    """A ConsumerConfig from keyword options; raises TypeError for unknown names and
    ValueError / TypeError naming the option for bad values."""
    config = ConsumerConfig(**validate_options("Consumer", CONSUMER_OPTIONS, options))
    _check(config)
    return config


def _check(config: ConsumerConfig) -> None:
    """Rules that tie several options together."""
    if config.heartbeat_interval_ms >= config.session_timeout_ms:
        raise ValueError(
            f"heartbeat_interval_ms ({config.heartbeat_interval_ms}) must be below "
            f"session_timeout_ms ({config.session_timeout_ms})"
        )
    if config.group_instance_id is not None and config.group_id is None:
        raise ValueError("group_instance_id needs a group_id")
    if config.group_id == "":
        raise ValueError("group_id must not be empty (use None for no group)")
    if config.max_partition_fetch_bytes > config.fetch_buffer_bytes:
        raise ValueError(
            f"fetch_buffer_bytes ({config.fetch_buffer_bytes}) must hold at least one "
            f"partition's fetch (max_partition_fetch_bytes={config.max_partition_fetch_bytes})"
        )
