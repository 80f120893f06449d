"""One partition hosted by this broker: its log, leadership state, high watermark and waiters.

The produce path runs through here: ``api.produce`` → ``Partition.append`` →
``storage.Log.append_as_leader``.  The partition owns the high watermark (the log only stores
it for checkpoints): with this broker as the only in-sync replica it moves with the log end
offset; replication moves it by the followers' progress.

Fetch long-polls wait on ``Partition.data_waiters``: an append sets every waiting event, so a
consumer is woken by data, never by polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from broker.metadata.records import PartitionState
from broker.storage.log import AppendInfo, Log


class NotLeaderError(Exception):
    """This broker is not the partition's leader."""


class NotEnoughReplicasError(Exception):
    """The in-sync replicas are fewer than ``min.insync.replicas``."""


@dataclass(eq=False)
class Partition:
    """A partition replica on this broker (leader or follower) and the state around its log."""

    topic: str
    index: int
    log: Log
    node_id: int
    state: PartitionState
    data_waiters: set[trio.Event] = field(default_factory=set)

    @property
    def leader_epoch(self) -> int:
        """The epoch of the current leadership (never decreases)."""
        return self.state.leader_epoch

    @property
    def is_leader(self) -> bool:
        """True when this broker leads the partition."""
        return self.state.leader == self.node_id

    @property
    def high_watermark(self) -> int:
        """Offsets below this are committed: consumers may read them."""
        return self.log.high_watermark

    @property
    def min_insync_replicas(self) -> int:
        """The topic's ``min.insync.replicas``."""
        return self.log.config.min_insync_replicas

    def become(self, state: PartitionState) -> None:
        """Take a new leadership state (from the metadata store)."""
        self.state = state
        if self.is_leader:
            self._advance_high_watermark()

    def append(self, records: memoryview, acks: int) -> AppendInfo:
        """Append a produce request's batches for this partition as leader.

        Raises NotLeaderError, NotEnoughReplicasError (acks=all with too small an ISR) and
        the storage errors of ``Log.append_as_leader``.
        """
        if not self.is_leader:
            raise NotLeaderError(f"{self.topic}-{self.index} is led by {self.state.leader}")
        if acks == -1 and len(self.state.isr) < self.min_insync_replicas:
            raise NotEnoughReplicasError(
                f"{self.topic}-{self.index}: {len(self.state.isr)} in-sync replicas, "
                f"min.insync.replicas={self.min_insync_replicas}"
            )
        info = self.log.append_as_leader(records, self.leader_epoch)
        if not info.duplicate:
            self._advance_high_watermark()
            self.notify_data()
        return info

    def _advance_high_watermark(self) -> None:
        if self.state.isr == (self.node_id,):
            self.log.high_watermark = self.log.log_end_offset

    def notify_data(self) -> None:
        """Wake every fetch waiting for data on this partition."""
        waiters, self.data_waiters = self.data_waiters, set()
        for event in waiters:
            event.set()
