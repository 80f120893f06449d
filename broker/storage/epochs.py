"""The leader epoch cache: which epoch started at which offset, persisted on every change.

Entries ``(epoch, start_offset)`` are strictly increasing in both fields and
live in ``leader-epoch-checkpoint`` (Kafka's format, see ``checkpoints``).
Followers use ``end_offset_for_epoch`` (OffsetForLeaderEpoch) to find where
their log diverges from the leader's.
"""

from __future__ import annotations

import os

from broker.storage.checkpoints import read_epoch_checkpoint, write_epoch_checkpoint
from broker.storage.errors import CorruptFileError

EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
UNDEFINED = (-1, -1)


class LeaderEpochCache:
    """Epoch -> start offset for one partition, written through to its checkpoint file."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, EPOCH_CHECKPOINT)
        self.entries: list[tuple[int, int]] = []
        self.loaded = False  # False when the file was missing or corrupt (the log rebuilds)
        try:
            self.entries = read_epoch_checkpoint(self.path)
            self.loaded = True
        except (FileNotFoundError, CorruptFileError):
            pass

    def _persist(self) -> None:
        write_epoch_checkpoint(self.path, self.entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, -1 when there is none."""
        return self.entries[-1][0] if self.entries else -1

    def assign(self, epoch: int, start_offset: int, *, persist: bool = True) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; False (no change) unless newer."""
        if epoch < 0 or epoch <= self.latest_epoch:
            return False
        if self.entries and start_offset < self.entries[-1][1]:
            return False
        if self.entries and start_offset == self.entries[-1][1]:
            self.entries.pop()  # the older epoch never got a record
        self.entries.append((epoch, start_offset))
        if persist:
            self._persist()
        return True

    def end_offset_for_epoch(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(largest epoch <= ``epoch``, the offset where the next epoch starts), as Kafka answers.

        The latest epoch ends at the log end offset; an epoch below the first
        known one, or newer than the latest, gives (-1, -1).
        """
        if not self.entries or epoch < self.entries[0][0] or epoch > self.latest_epoch:
            return UNDEFINED
        if epoch == self.latest_epoch:
            return self.latest_epoch, log_end_offset
        for index in range(len(self.entries) - 1, -1, -1):
            if self.entries[index][0] <= epoch:
                return self.entries[index][0], self.entries[index + 1][1]
        return UNDEFINED

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs that start at or after ``end_offset`` (log truncated there)."""
        kept = [entry for entry in self.entries if entry[1] < end_offset]
        if kept != self.entries:
            self.entries = kept
            self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop epochs wholly below ``start_offset``; the first kept one starts there at least."""
        entries = self.entries
        first = 0
        while first + 1 < len(entries) and entries[first + 1][1] <= start_offset:
            first += 1
        kept = entries[first:]
        if kept and kept[0][1] < start_offset:
            kept = [(kept[0][0], start_offset), *kept[1:]]
        if kept != self.entries:
            self.entries = kept
            self._persist()

    def reset(self, entries: list[tuple[int, int]]) -> None:
        """Replace every entry (after a rebuild from the log) and persist.

        No entries and no file (a new log) writes nothing: a missing file already means
        "rebuild from the log", which finds none again.
        """
        self.entries = list(entries)
        if entries or os.path.exists(self.path):
            self._persist()
        self.loaded = True
