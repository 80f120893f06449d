"""One partition hosted by this broker: its log, leadership state, high watermark and waiters.

The produce path runs through here: ``api.produce`` → ``Partition.append`` →
``storage.Log.append_as_leader``.  The partition owns the high watermark (the log only stores
it for checkpoints).  With the local metadata store the broker is the only replica and the
watermark moves with the log end offset.  In a cluster the leader keeps a ``LeaderState``
(follower progress, ISR) and the watermark is the smallest log end offset of the ISR, counting
the leader's own records once fsynced (``write.caching=false``, the default) or once written.

Waiters are events, set by whoever changes what they wait for, never polled, and each kind
only by what can give it something (Kafka keys its delayed fetches the same way):
``data_waiters`` (consumer long-polls, which read up to the high watermark) are woken by
watermark moves; ``replica_waiters`` (follower long-polls, which read up to the log end) by
appends; ``commit_waiters`` (acks=all produces and coordinator writes) by ISR and leadership
changes, and by a watermark move only once it reaches the offset each waits for.  A follower's
fetch moves the watermark a little at a time: waking every pipelined produce on each move cost
the leader's event loop a tenth of its time with 32 produces in flight.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from broker.metadata.records import PartitionState
from broker.replication.leader import LeaderState
from broker.storage.log import AppendInfo, Log


class NotLeaderError(Exception):
    """This broker is not the partition's leader."""


class NotEnoughReplicasError(Exception):
    """The in-sync replicas are fewer than ``min.insync.replicas``."""


class CommitState(enum.Enum):
    """Where an acks=all append stands."""

    WAITING = "waiting"
    COMMITTED = "committed"
    NOT_LEADER = "not leader"  # leadership moved: the records may be truncated
    NOT_ENOUGH_REPLICAS = "not enough replicas"  # the ISR shrank below min.insync.replicas


class CommitWaiters:
    """Events of acks=all writes, each waiting for the high watermark to reach an offset.

    ``wake_reached`` sets only the events whose offset the watermark has reached;
    ``wake_all`` sets every event (the ISR or the leadership changed: each must look again).
    An event discarded before it was woken leaves a stale heap entry behind, skipped when
    popped and swept when stale entries outnumber live ones.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, trio.Event]] = []
        self._live: dict[trio.Event, int] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, event: object) -> bool:
        return event in self._live

    def add(self, end_offset: int, event: trio.Event) -> None:
        """Set ``event`` once the high watermark reaches ``end_offset`` (or on ``wake_all``)."""
        self._live[event] = end_offset
        heapq.heappush(self._heap, (end_offset, next(self._order), event))

    def discard(self, event: trio.Event) -> None:
        """Forget ``event`` (its waiter stopped waiting)."""
        if self._live.pop(event, None) is not None and len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [entry for entry in self._heap if self._live.get(entry[2]) == entry[0]]
            heapq.heapify(self._heap)

    def wake_reached(self, high_watermark: int) -> None:
        """Set every event waiting for an offset at or below ``high_watermark``."""
        heap = self._heap
        while heap and heap[0][0] <= high_watermark:
            end_offset, _, event = heapq.heappop(heap)
            if self._live.get(event) == end_offset:
                del self._live[event]
                event.set()

    def wake_all(self) -> None:
        """Set every event."""
        live, self._live, self._heap = self._live, {}, []
        for event in live:
            event.set()


def now_ms() -> float:
    """The clock of replication: trio's, in milliseconds (a MockClock in tests)."""
    return trio.current_time() * 1000


@dataclass(eq=False)
class Partition:
    """A partition replica on this broker (leader or follower) and the state around its log."""

    topic: str
    index: int
    log: Log
    node_id: int
    state: PartitionState
    version: int = 0  # store version of ``state``; 0 with the local store
    leading: bool = False
    leader_state: LeaderState | None = None
    removed: bool = False
    data_waiters: set[trio.Event] = field(default_factory=set)
    replica_waiters: set[trio.Event] = field(default_factory=set)
    commit_waiters: CommitWaiters = field(default_factory=CommitWaiters)
    # Asks group commit for an fsync up to an offset (cluster mode only).
    request_flush: Callable[[Log, int], None] | None = None

    def __post_init__(self) -> None:
        self.leading = self.state.leader == self.node_id

    @property
    def leader_epoch(self) -> int:
        """The epoch of the current leadership (never decreases)."""
        return self.state.leader_epoch

    @property
    def is_leader(self) -> bool:
        """True when this broker leads the partition now."""
        return self.leading

    @property
    def high_watermark(self) -> int:
        """Offsets below this are committed: consumers may read them."""
        return self.log.high_watermark

    @property
    def min_insync_replicas(self) -> int:
        """The topic's ``min.insync.replicas``."""
        return self.log.config.min_insync_replicas

    @property
    def isr(self) -> tuple[int, ...]:
        """The committed in-sync replicas."""
        return self.state.isr

    # ------------------------------------------------------------ leadership changes

    def become(self, state: PartitionState) -> None:
        """Take a new leadership state from the local store (one node: ISR is this broker)."""
        self.state = state
        self.leading = state.leader == self.node_id
        if self.leading:
            self._advance_high_watermark()

    def become_leader(self, state: PartitionState, version: int, at_ms: float) -> None:
        """Lead ``state``'s epoch (cluster mode): followers' progress starts from nothing."""
        self.state = state
        self.version = version
        self.leading = True
        log = self.log
        if state.leader_epoch > log.latest_epoch:
            # The new epoch starts at our log end even before its first record, so that a
            # follower asking about an older epoch learns where it ended here.
            log.epochs.assign(state.leader_epoch, log.log_end_offset)
        self.leader_state = LeaderState(
            self.node_id,
            state.replicas,
            state.isr,
            epoch_start_offset=log.log_end_offset,
            high_watermark=log.high_watermark,
            now_ms=at_ms,
        )
        if self.request_flush is not None:
            self.request_flush(log, log.log_end_offset)
        self.update_high_watermark()
        self.wake_all()

    def update_leader_state(self, state: PartitionState, version: int) -> None:
        """A new state of the epoch this broker leads (an ISR change): take its ISR."""
        self.state = state
        self.version = version
        if self.leader_state is not None:
            self.leader_state.isr_committed(state.isr)
        self.update_high_watermark()
        self.wake_commit_waiters()

    def become_follower(self, state: PartitionState, version: int) -> None:
        """Stop leading (if this broker did): waiting produces learn it at once."""
        self.state = state
        self.version = version
        self.leading = False
        self.leader_state = None
        self.wake_all()

    # ------------------------------------------------------------ appends

    def append(self, records: memoryview, acks: int) -> AppendInfo:
        """Append a produce request's batches for this partition as leader.

        Raises NotLeaderError, NotEnoughReplicasError (acks=all with too small an ISR) and
        the storage errors of ``Log.append_as_leader``.
        """
        if not self.leading:
            raise NotLeaderError(f"{self.topic}-{self.index} is led by {self.state.leader}")
        if acks == -1 and len(self.state.isr) < self.min_insync_replicas:
            raise NotEnoughReplicasError(
                f"{self.topic}-{self.index}: {len(self.state.isr)} in-sync replicas, "
                f"min.insync.replicas={self.min_insync_replicas}"
            )
        info = self.log.append_as_leader(records, self.leader_epoch)
        if not info.duplicate:
            if self.leader_state is None:
                self._advance_high_watermark()
            else:
                if self.request_flush is not None and not self.log.config.write_caching:
                    self.request_flush(self.log, info.last_offset + 1)
                self.update_high_watermark()
            _wake(self.replica_waiters)
        return info

    def _advance_high_watermark(self) -> None:
        log = self.log
        if self.state.isr == (self.node_id,) and log.high_watermark != log.log_end_offset:
            log.high_watermark = log.log_end_offset
            _wake(self.data_waiters)

    # ------------------------------------------------------------ replication (leader)

    def own_end_offset(self) -> int:
        """The leader's log end offset as the high watermark counts it (durable unless
        ``write.caching``)."""
        log = self.log
        return log.log_end_offset if log.config.write_caching else log.recovery_point

    def update_high_watermark(self) -> bool:
        """Recompute the high watermark from the ISR's progress; True when it moved."""
        state = self.leader_state
        if state is None or not self.leading:
            return False
        if not state.update_high_watermark(self.own_end_offset(), self.min_insync_replicas):
            return False
        self.log.high_watermark = min(state.high_watermark, self.log.log_end_offset)
        _wake(self.data_waiters)
        self.commit_waiters.wake_reached(self.log.high_watermark)
        return True

    def record_follower_fetch(
        self, replica: int, fetch_offset: int, durable_offset: int = -1, at_ms: float | None = None
    ) -> tuple[int, ...] | None:
        """A follower fetched from ``fetch_offset``, its records below ``durable_offset``
        fsynced (-1: all of them, or ``write.caching``), at ``at_ms`` (default: now): its
        progress, perhaps a higher watermark.

        Returns the ISR the leader should now write when the follower is back in sync.
        """
        state = self.leader_state
        if state is None or not self.leading:
            return None
        if self.log.config.write_caching:
            durable_offset = -1  # page-cache copies count, as the leader's own do
        at = now_ms() if at_ms is None else at_ms
        if state.record_fetch(replica, fetch_offset, self.log.log_end_offset, at, durable_offset):
            # Unmoved progress cannot move the watermark: every other input to it (appends,
            # flushes, ISR changes) recomputes it where it changes.
            self.update_high_watermark()
        return state.propose_expand(replica)

    def isr_change_failed(self) -> None:
        """The proposed ISR was not written: forget it, and count without a replica it added."""
        if self.leader_state is not None:
            self.leader_state.isr_change_failed()
            self.update_high_watermark()

    def commit_state(self, end_offset: int, epoch: int) -> CommitState:
        """Whether records appended in ``epoch`` below ``end_offset`` are committed."""
        if self.removed or not self.leading or self.leader_epoch != epoch:
            return CommitState.NOT_LEADER
        if self.high_watermark >= end_offset:
            return CommitState.COMMITTED
        if len(self.state.isr) < self.min_insync_replicas:
            return CommitState.NOT_ENOUGH_REPLICAS
        return CommitState.WAITING

    async def wait_committed(self, end_offset: int, epoch: int) -> CommitState:
        """Wait until ``commit_state`` is no longer WAITING (callers bound the time)."""
        while True:
            outcome = self.commit_state(end_offset, epoch)
            if outcome is not CommitState.WAITING:
                return outcome
            woken = trio.Event()
            self.commit_waiters.add(end_offset, woken)
            try:
                await woken.wait()
            finally:
                self.commit_waiters.discard(woken)

    # ------------------------------------------------------------ waking

    def notify_data(self) -> None:
        """Wake every fetch waiting on this partition, consumer or follower, to look again."""
        _wake(self.data_waiters)
        _wake(self.replica_waiters)

    def wake_commit_waiters(self) -> None:
        """Wake every acks=all produce waiting on this partition to look again."""
        self.commit_waiters.wake_all()

    def wake_all(self) -> None:
        """Wake fetches and produces: something they depend on changed."""
        self.notify_data()
        self.wake_commit_waiters()


def _wake(events: set[trio.Event]) -> None:
    """Set every event of a waiter set and empty it (a woken waiter re-registers if it must)."""
    for event in events:
        event.set()
    events.clear()
