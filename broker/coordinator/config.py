"""Settings of the group coordinator, named after the Kafka broker settings they mirror."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoordinatorConfig:
    """Group coordinator settings; defaults are Kafka's.

    * ``initial_rebalance_delay_ms``: ``group.initial.rebalance.delay.ms``, how long the first
      rebalance of an empty group waits for more members (extended while members keep
      arriving, never past the rebalance timeout).
    * ``min_session_timeout_ms`` / ``max_session_timeout_ms``:
      ``group.min.session.timeout.ms`` / ``group.max.session.timeout.ms``.
    * ``max_group_size``: ``group.max.size``.
    * ``offsets_retention_ms``: ``offsets.retention.minutes`` in milliseconds; offsets of an
      empty group expire this long after the later of the group emptying and the commit.
    * ``offsets_retention_check_interval_ms``: ``offsets.retention.check.interval.ms``.
    * ``offset_metadata_max_bytes``: ``offset.metadata.max.bytes``.
    """

    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    max_group_size: int = 2**31 - 1
    offsets_retention_ms: int = 7 * 24 * 60 * 60 * 1000
    offsets_retention_check_interval_ms: int = 600_000
    offset_metadata_max_bytes: int = 4096
