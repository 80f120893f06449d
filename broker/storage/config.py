"""Per-log configuration with Kafka's names and Kafka's defaults.

``LogConfig`` is immutable; ``LogConfig.from_properties`` reads Kafka-style
dotted keys (``{"segment.bytes": "1048576"}``) and ``with_overrides`` makes a
topic's config from the broker default.  Unknown keys raise ValueError naming
the key, so a typo stops the broker at start instead of being ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

LONG_MAX = 2**63 - 1


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    """Settings of one partition's log; field ``x_y`` is Kafka's ``x.y`` key."""

    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 3600 * 1000  # -1: keep forever
    retention_bytes: int = -1  # -1: no size limit
    flush_messages: int = LONG_MAX  # Kafka's default: never fsync because of a count
    flush_ms: int = LONG_MAX  # nor because of time
    cleanup_policy: str = "delete"  # "delete", "compact" or "compact,delete"
    message_timestamp_type: str = "CreateTime"  # or "LogAppendTime"
    max_message_bytes: int = 1024 * 1024 + 12
    file_delete_delay_ms: int = 60_000
    delete_retention_ms: int = 24 * 3600 * 1000
    min_cleanable_dirty_ratio: float = 0.5
    min_insync_replicas: int = 1
    unclean_leader_election_enable: bool = False
    write_caching: bool = False

    def __post_init__(self) -> None:
        checks = (
            ("segment.bytes", 14 <= self.segment_bytes <= 2**31 - 1),
            ("segment.ms", self.segment_ms >= 1),
            ("segment.index.bytes", self.segment_index_bytes >= 12),
            ("index.interval.bytes", self.index_interval_bytes >= 0),
            ("retention.ms", self.retention_ms >= -1),
            ("retention.bytes", self.retention_bytes >= -1),
            ("flush.messages", self.flush_messages >= 1),
            ("flush.ms", self.flush_ms >= 0),
            ("file.delete.delay.ms", self.file_delete_delay_ms >= 0),
            ("min.insync.replicas", self.min_insync_replicas >= 1),
        )
        for key, ok in checks:
            if not ok:
                raise ValueError(f"{key}={getattr(self, key.replace('.', '_'))} is out of range")
        policies = set(self.cleanup_policy.replace(" ", "").split(","))
        if not policies or not policies <= {"delete", "compact"}:
            raise ValueError(
                f"cleanup.policy={self.cleanup_policy!r}: expected delete and/or compact"
            )
        if self.message_timestamp_type not in ("CreateTime", "LogAppendTime"):
            raise ValueError(
                f"message.timestamp.type={self.message_timestamp_type!r}: "
                "expected CreateTime or LogAppendTime"
            )

    @property
    def compact(self) -> bool:
        """True when ``cleanup.policy`` includes compaction."""
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        """True when ``cleanup.policy`` includes time/size retention."""
        return "delete" in self.cleanup_policy

    @property
    def log_append_time(self) -> bool:
        """True when the broker stamps batches with its own clock."""
        return self.message_timestamp_type == "LogAppendTime"

    @classmethod
    def from_properties(cls, props: Mapping[str, Any], base: LogConfig | None = None) -> LogConfig:
        """A config from Kafka-style keys (values may be strings), over ``base`` or the defaults."""
        return (base or cls()).with_overrides(props)

    def with_overrides(self, props: Mapping[str, Any]) -> LogConfig:
        """A copy with Kafka-style keys overridden; ValueError names an unknown or bad key."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, raw in props.items():
            name = key.replace(".", "_")
            if name not in fields:
                raise ValueError(f"unknown log config key {key!r}")
            current = getattr(self, name)
            try:
                if isinstance(current, bool):
                    value: Any = raw if isinstance(raw, bool) else str(raw).lower() == "true"
                    if not isinstance(raw, bool) and str(raw).lower() not in ("true", "false"):
                        raise ValueError(raw)
                elif isinstance(current, int):
                    value = int(raw)
                elif isinstance(current, float):
                    value = float(raw)
                else:
                    value = str(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{key}={raw!r} is not a valid {type(current).__name__}") from None
            changes[name] = value
        return dataclasses.replace(self, **changes)

    def to_properties(self) -> dict[str, str]:
        """Every setting as Kafka key -> string (DescribeConfigs answers from this)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name.replace("_", ".")] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return out
