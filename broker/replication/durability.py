"""Group commit: fsync logs in a worker thread, one fsync round for every waiter that came.

An ``acks=all`` produce is acknowledged only once its batch is on disk.  Waiters register the
log and the offset they need durable; the committer task takes every log with waiters, fsyncs
them all in one worker-thread call, advances their recovery points, and wakes everyone whose
offset is now covered.  Requests that arrive while a round runs wait for the next one, so one
fsync serves all of them — the cost of durability is paid per round, not per request.  A round
normally costs one ``fdatasync`` per log (its active segment's data); only the round after a
segment roll also fsyncs the rolled segment, its producer snapshot and the directory (see
``broker.storage.log``).

Replication asks without waiting (``request``): a leader's high watermark counts only its
fsynced records, so every append asks for a round, and after each round ``listeners`` hear
every log it was asked for — including one that another fsync (the periodic flush) made
durable first, which the round then had nothing left to do for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import trio

from broker.storage.log import FlushTask, Log

log = logging.getLogger("rillet.durability")


class GroupCommit:
    """Batches fsync requests from many produce requests into rounds (see module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[Log, int] = {}
        self._work = trio.Event()
        self._round_done = trio.Event()
        self.rounds = 0
        self.failure: BaseException | None = None
        self.listeners: list[Callable[[list[Log]], None]] = []

    def request(self, log_: Log, offset: int) -> None:
        """Ask for ``log_`` to be fsynced up to ``offset`` in the next round, without waiting."""
        if log_.recovery_point < offset:
            self._pending[log_] = max(self._pending.get(log_, 0), offset)
            self._work.set()

    async def wait_all_durable(self, targets: Iterable[tuple[Log, int]]) -> None:
        """``wait_durable`` for several logs at once: they share rounds."""
        targets = list(targets)
        for log_, offset in targets:
            self.request(log_, offset)
        for log_, offset in targets:
            await self.wait_durable(log_, offset)

    async def wait_durable(self, log_: Log, offset: int) -> None:
        """Return once every record of ``log_`` below ``offset`` is fsynced.

        Raises OSError when the fsync failed (the broker cannot promise durability then).
        """
        while log_.recovery_point < offset:
            if log_.closed:
                raise OSError(f"{log_.directory} closed before its data was fsynced")
            self._pending[log_] = max(self._pending.get(log_, 0), offset)
            self._work.set()
            done = self._round_done
            await done.wait()
            if self.failure is not None:
                raise OSError(f"fsync failed: {self.failure}")

    async def run(self) -> None:
        """The committer task: runs rounds until cancelled."""
        while True:
            await self._work.wait()
            self._work = trio.Event()
            pending, self._pending = self._pending, {}
            tasks: list[tuple[Log, FlushTask]] = []
            for log_ in pending:
                if not log_.closed:
                    task = log_.prepare_flush()
                    if task is not None:
                        tasks.append((log_, task))
            try:
                if tasks:
                    await trio.to_thread.run_sync(_run_all, [task for _, task in tasks])
                for log_, task in tasks:
                    log_.complete_flush(task)
                self.failure = None
                asked = [log_ for log_ in pending if not log_.closed]
                if asked:
                    for listener in self.listeners:
                        listener(asked)
            except OSError as exc:
                log.error("fsync failed: %s", exc)
                self.failure = exc
            self.rounds += 1
            done, self._round_done = self._round_done, trio.Event()
            done.set()


def _run_all(tasks: list[FlushTask]) -> None:
    for task in tasks:
        task.run()
