"""What a partition leader knows about its followers: progress, ISR and the high watermark.

Pure state, fed with times in milliseconds by its caller (the partition), so that every rule
can be tested on a made-up clock:

* A follower's log end offset is the offset it fetches from (followers fetch from their own
  log end).  What the high watermark counts of its copy is its *replicated offset*: the
  durable offset the fetch reports with it (a follower that is behind fetches again while its
  fsync runs), or the fetch offset when the fetch reports none (``write.caching``).
* A follower is caught up at the time of a fetch when its fetch offset reaches the leader's
  log end offset then; when it only reaches the log end offset the leader had at its previous
  fetch, it was caught up at the time of that previous fetch.
* A follower in the ISR that has not been caught up for ``replica.lag.time.max.ms`` is out
  of sync: the leader proposes an ISR without it.
* A replica outside the ISR whose replicated offset reached the high watermark and the start
  of the current leader epoch is in sync again: the leader proposes an ISR with it.
* The high watermark is the smallest replicated offset over the ISR (the leader counts with
  its own, durable, log end offset).  It never goes down, and it does not move at all while the
  ISR is smaller than ``min.insync.replicas``: records replicated to fewer brokers than that
  are not committed, whoever asked for them.

One ISR change is in flight at a time.  While it is, the high watermark is computed over the
committed ISR plus the replica being added, and a replica being removed still counts: both
choices keep the watermark at or below what every possible outcome allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

UNKNOWN = -1


@dataclass
class FollowerProgress:
    """One follower as its fetches show it."""

    log_end_offset: int = UNKNOWN
    replicated_offset: int = UNKNOWN
    last_caught_up_ms: float = -math.inf
    last_fetch_ms: float = -math.inf
    last_fetch_leader_end: int = UNKNOWN


class LeaderState:
    """The leader-side replication state of one partition (see module docstring)."""

    def __init__(
        self,
        node_id: int,
        replicas: Iterable[int],
        isr: Iterable[int],
        *,
        epoch_start_offset: int,
        high_watermark: int,
        now_ms: float,
    ) -> None:
        self.node_id = node_id
        self.isr: tuple[int, ...] = tuple(isr)
        self.pending_isr: tuple[int, ...] | None = None
        self.epoch_start_offset = epoch_start_offset
        self.high_watermark = high_watermark
        # Followers in the ISR get a fresh start: a new leader cannot know how long they lagged.
        self.followers = {
            replica: FollowerProgress(
                last_caught_up_ms=now_ms if replica in self.isr else -math.inf
            )
            for replica in replicas
            if replica != node_id
        }

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        """The committed ISR with the replicas an in-flight change adds."""
        if self.pending_isr is None:
            return self.isr
        return self.isr + tuple(r for r in self.pending_isr if r not in self.isr)

    def record_fetch(
        self,
        replica: int,
        fetch_offset: int,
        leader_end_offset: int,
        now_ms: float,
        durable_offset: int = UNKNOWN,
    ) -> bool:
        """Take a follower's fetch at ``fetch_offset`` (with the durable offset it reports, if
        any); whether its replicated offset moved (False for a replica not assigned here)."""
        progress = self.followers.get(replica)
        if progress is None:
            return False
        if fetch_offset >= leader_end_offset:
            progress.last_caught_up_ms = now_ms
        elif fetch_offset >= progress.last_fetch_leader_end:
            progress.last_caught_up_ms = max(progress.last_caught_up_ms, progress.last_fetch_ms)
        progress.log_end_offset = fetch_offset
        replicated = (
            fetch_offset if durable_offset == UNKNOWN else min(fetch_offset, durable_offset)
        )
        moved = replicated != progress.replicated_offset
        progress.replicated_offset = replicated
        progress.last_fetch_leader_end = leader_end_offset
        progress.last_fetch_ms = now_ms
        return moved

    def update_high_watermark(self, own_end_offset: int, min_insync: int) -> bool:
        """Move the high watermark as far as the ISR allows; True when it moved."""
        if len(self.isr) < min_insync:
            return False
        candidate = own_end_offset
        for replica in self.maximal_isr:
            if replica == self.node_id:
                continue
            progress = self.followers.get(replica)
            if progress is None or progress.replicated_offset == UNKNOWN:
                return False
            candidate = min(candidate, progress.replicated_offset)
        if candidate > self.high_watermark:
            self.high_watermark = candidate
            return True
        return False

    def out_of_sync(self, now_ms: float, max_lag_ms: int) -> list[int]:
        """ISR followers that have not been caught up for longer than ``max_lag_ms``.

        A live follower fetches at least every ``replica.fetch.wait.max.ms`` and is caught up
        by any fetch at the leader's log end, so an idle partition keeps its ISR; a follower
        that stops fetching leaves even when it had everything.
        """
        lagging = []
        for replica in self.isr:
            if replica == self.node_id:
                continue
            progress = self.followers.get(replica)
            if progress is None:
                continue
            if now_ms - progress.last_caught_up_ms > max_lag_ms:
                lagging.append(replica)
        return lagging

    def propose_shrink(self, now_ms: float, max_lag_ms: int) -> tuple[int, ...] | None:
        """The ISR without its out-of-sync followers, or None (no change, or one in flight)."""
        if self.pending_isr is not None:
            return None
        lagging = self.out_of_sync(now_ms, max_lag_ms)
        if not lagging:
            return None
        proposed = tuple(r for r in self.isr if r not in lagging)
        self.pending_isr = proposed
        return proposed

    def propose_expand(self, replica: int) -> tuple[int, ...] | None:
        """The ISR with ``replica`` when it is back in sync, or None."""
        if self.pending_isr is not None or replica in self.isr:
            return None
        progress = self.followers.get(replica)
        if progress is None:
            return None
        end = progress.replicated_offset
        if end < self.high_watermark or end < self.epoch_start_offset:
            return None
        proposed = self.isr + (replica,)
        self.pending_isr = proposed
        return proposed

    def isr_committed(self, isr: Iterable[int]) -> None:
        """The store holds a (new) ISR: it is the committed one and nothing is in flight."""
        self.isr = tuple(isr)
        self.pending_isr = None

    def isr_change_failed(self) -> None:
        """The proposed change was not written; a later check may propose again."""
        self.pending_isr = None
