"""The consumer's options: names and defaults as kafka-python and aiokafka spell them, checked
once when the consumer is built.

Unknown names raise a TypeError that lists them (with the closest known names), and bad
values a ValueError naming the option, so a typo never silently falls back to a default.
Times are milliseconds, sizes bytes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from client.consumer.assignors import Assignor, resolve_assignors

__all__ = ["ConsumerConfig", "consumer_config"]

OFFSET_RESET_ALIASES = {
    "earliest": "earliest",
    "smallest": "earliest",
    "latest": "latest",
    "largest": "latest",
    "none": "none",
}


@dataclass(frozen=True)
class ConsumerConfig:
    """Validated consumer options (see the ``Consumer`` docstring for what each does)."""

    bootstrap_servers: str | Sequence[str] = "localhost"
    client_id: str = "rillet-consumer"
    client_rack: str | None = None
    group_id: str | None = None
    group_instance_id: str | None = None
    key_deserializer: Callable[[bytes | None], Any] | None = None
    value_deserializer: Callable[[bytes | None], Any] | None = None
    fetch_min_bytes: int = 1
    fetch_max_bytes: int = 52_428_800
    fetch_max_wait_ms: int = 500
    max_partition_fetch_bytes: int = 1_048_576
    fetch_buffer_bytes: int = 16_777_216
    max_poll_records: int = 500
    max_poll_interval_ms: int = 300_000
    auto_offset_reset: str = "latest"
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = 5_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    rebalance_timeout_ms: int | None = None
    partition_assignment_strategy: Any = ("range", "roundrobin")
    isolation_level: str = "read_uncommitted"
    check_crcs: bool = True
    exclude_internal_topics: bool = True
    allow_auto_create_topics: bool = True
    consumer_timeout_ms: float = float("inf")
    request_timeout_ms: int = 30_000
    connect_timeout_ms: int = 10_000
    retry_backoff_ms: int = 100
    retry_backoff_max_ms: int = 1_000
    metadata_max_age_ms: int = 300_000
    max_in_flight_requests_per_connection: int = 5

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


_POSITIVE = (
    "fetch_max_bytes",
    "max_partition_fetch_bytes",
    "fetch_buffer_bytes",
    "max_poll_records",
    "max_poll_interval_ms",
    "auto_commit_interval_ms",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "request_timeout_ms",
    "connect_timeout_ms",
    "metadata_max_age_ms",
    "max_in_flight_requests_per_connection",
)
_NON_NEGATIVE = ("fetch_min_bytes", "fetch_max_wait_ms", "retry_backoff_ms", "retry_backoff_max_ms")


def consumer_config(**options: Any) -> ConsumerConfig:
    """A ConsumerConfig from keyword options; raises TypeError for unknown names and
    ValueError for values out of range."""
    known = {f.name for f in fields(ConsumerConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(f"unknown consumer option(s): {', '.join(hints)}")
    if "auto_offset_reset" in options:
        value = options["auto_offset_reset"]
        reset = OFFSET_RESET_ALIASES.get(str(value).lower() if value is not None else "none")
        if reset is None:
            raise ValueError(
                f"auto_offset_reset must be 'earliest', 'latest' or 'none', not {value!r}"
            )
        options["auto_offset_reset"] = reset
    config = ConsumerConfig(**options)
    _check(config)
    return config


def _check(config: ConsumerConfig) -> None:
    for name in _POSITIVE:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    for name in _NON_NEGATIVE:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    if config.isolation_level not in ("read_uncommitted", "read_committed"):
        raise ValueError(
            "isolation_level must be 'read_uncommitted' or 'read_committed', "
            f"not {config.isolation_level!r}"
        )
    if config.heartbeat_interval_ms >= config.session_timeout_ms:
        raise ValueError(
            f"heartbeat_interval_ms ({config.heartbeat_interval_ms}) must be below "
            f"session_timeout_ms ({config.session_timeout_ms})"
        )
    if config.group_instance_id is not None and config.group_id is None:
        raise ValueError("group_instance_id needs a group_id")
    if config.group_id is not None and not (isinstance(config.group_id, str) and config.group_id):
        raise ValueError(f"group_id must be a non-empty string, not {config.group_id!r}")
    if config.rebalance_timeout_ms is not None and config.rebalance_timeout_ms <= 0:
        raise ValueError(
            f"rebalance_timeout_ms must be positive, not {config.rebalance_timeout_ms}"
        )
    if not config.consumer_timeout_ms > 0:
        raise ValueError(f"consumer_timeout_ms must be positive, not {config.consumer_timeout_ms}")
    if config.max_partition_fetch_bytes > config.fetch_buffer_bytes:
        raise ValueError(
            f"fetch_buffer_bytes ({config.fetch_buffer_bytes}) must hold at least one "
            f"partition's fetch (max_partition_fetch_bytes={config.max_partition_fetch_bytes})"
        )
    for name in ("key_deserializer", "value_deserializer"):
        value = getattr(config, name)
        if value is not None and not callable(value):
            raise ValueError(f"{name} must be callable, not {value!r}")
    config.assignors  # resolving raises for unknown strategies
