"""Group coordinator and committed offsets, kept in the ``__consumer_offsets`` topic.

* ``coordinator.GroupCoordinator``: the pure state machine of one ``__consumer_offsets``
  partition (operations take ``now_ms`` and return records to append plus responses).
* ``service.CoordinatorService``: the trio adapter that appends records, holds requests and
  runs the coordinator's timers on trio's clock.
* ``formats``: Kafka's key/value formats of ``__consumer_offsets``; ``store``: the state that
  replaying them yields; ``compaction``: the rule a compacted log follows;
  ``placement.partition_for``: which partition holds a group.
"""

from __future__ import annotations

from broker.coordinator.compaction import compact, compact_timed
from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.coordinator import GroupCoordinator, LeaveMember, Result
from broker.coordinator.errors import ErrorCode
from broker.coordinator.group import GroupState
from broker.coordinator.placement import partition_for

__all__ = [
    "CoordinatorConfig",
    "ErrorCode",
    "GroupCoordinator",
    "GroupState",
    "LeaveMember",
    "Result",
    "compact",
    "compact_timed",
    "partition_for",
]
