"""The broker settings that shape replication, gathered from the broker config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.config import BrokerConfig

MiB = 1024 * 1024


@dataclass(frozen=True)
class ReplicationSettings:
    """How followers fetch and how long the leader waits for them.

    ``replica_lag_time_max_ms``: a follower that has not caught up with the leader's log end
    offset for this long leaves the ISR.  ``replica_fetch_wait_max_ms``: how long a follower's
    fetch waits at the leader for new data.  ``replica_fetch_max_bytes``: the most a follower
    asks for per partition in one fetch.  ``replica_fetch_backoff_ms``: the pause before a
    fetcher reconnects or retries after an error.
    """

    replica_lag_time_max_ms: int = 10_000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_max_bytes: int = MiB
    replica_fetch_backoff_ms: int = 1_000

    @classmethod
    def from_config(cls, config: BrokerConfig) -> ReplicationSettings:
        """The settings of a ``BrokerConfig``."""
        return cls(
            replica_lag_time_max_ms=config.replica_lag_time_max_ms,
            replica_fetch_wait_max_ms=config.replica_fetch_wait_max_ms,
            replica_fetch_max_bytes=config.replica_fetch_max_bytes,
            replica_fetch_backoff_ms=min(1_000, max(100, config.replica_fetch_wait_max_ms)),
        )

    @property
    def isr_check_interval_s(self) -> float:
        """How often the leader looks for followers that fell out of sync."""
        return max(self.replica_lag_time_max_ms / 2, 50) / 1000
