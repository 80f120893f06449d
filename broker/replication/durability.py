"""Group commit: fsync logs in a worker thread, one fsync round for every waiter that came.

An ``acks=all`` produce is acknowledged only once its batch is on disk.  Waiters register the
log and the offset they need durable; a round takes every log with waiters, fsyncs them all
in the committer thread, advances their recovery points, and wakes everyone whose offset is
now covered.  Requests that arrive while a round runs wait for the next one, so one fsync
serves all of them — the cost of durability is paid per round, not per request.  A round
normally costs one ``fdatasync`` per log (its active segment's data); only the round after a
segment roll also fsyncs the rolled segment, its producer snapshot and the directory (see
``broker.storage.log``).

Replication asks without waiting (``request``): a leader's high watermark counts only its
fsynced records, so every append asks for a round, and after each round ``listeners`` hear
every log it was asked for — including one that another fsync (the periodic flush) made
durable first, which the round then had nothing left to do for.

The committer is one long-lived thread fed from the event loop, not a task handing each
round to ``trio.to_thread``: a round starts in the call that asks for it and ends in the
callback that brings the thread's result back, so the fsync waits for no pass of a busy
event loop before it starts and for one after it ends.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable

import trio

from broker.storage.log import FlushTask, Log, prepare_flushes, run_flushes

log = logging.getLogger("rillet.durability")

_Job = tuple[dict[Log, int], list[tuple[Log, FlushTask]]]


class GroupCommit:
    """Batches fsync requests from many produce requests into rounds (see module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[Log, int] = {}
        self._round_done = trio.Event()
        self._in_round = False
        self._round_asked: dict[Log, int] = {}  # what the round under way was asked for
        self._token: trio.lowlevel.TrioToken | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.rounds = 0
        self.failure: BaseException | None = None
        self.listeners: list[Callable[[list[Log]], None]] = []

    def request(self, log_: Log, offset: int) -> None:
        """Ask for ``log_`` to be fsynced up to ``offset`` in the next round, without waiting."""
        if log_.recovery_point < offset and self._round_asked.get(log_, -1) < offset:
            self._pending[log_] = max(self._pending.get(log_, 0), offset)
            self._start_round()

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
            done = self._round_done
            self.request(log_, offset)
            await done.wait()
            if self.failure is not None:
                raise OSError(f"fsync failed: {self.failure}")

    async def run(self) -> None:
        """Run the committer thread until cancelled."""
        token = trio.lowlevel.current_trio_token()
        thread = threading.Thread(
            target=self._commit_rounds, args=(token,), name="rillet-group-commit", daemon=True
        )
        thread.start()
        self._token = token
        try:
            self._start_round()
            await trio.sleep_forever()
        finally:
            self._token = None
            self._jobs.put(None)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(thread.join)

    def _start_round(self) -> None:
        if self._in_round or self._token is None or not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._round_asked = pending
        self._in_round = True
        try:
            tasks = prepare_flushes(pending)
        except OSError as exc:  # e.g. no descriptor left to duplicate: a failed round
            self._end_round(pending, [], exc)
            return
        if tasks:
            self._jobs.put((pending, tasks))
        else:
            # Everything asked for was fsynced meanwhile (the periodic flush): nothing for
            # the thread, but the listeners still hear of it.
            self._end_round(pending, tasks, None)

    def _commit_rounds(self, token: trio.lowlevel.TrioToken) -> None:
        """The committer thread: fsync each job's logs, hand the outcome to the event loop."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            pending, tasks = job
            error: Exception | None = None
            try:
                run_flushes([task for _, task in tasks])
            except Exception as exc:  # the waiters must hear of it, not hang
                error = exc
            try:
                token.run_sync_soon(self._end_round, pending, tasks, error)
            except trio.RunFinishedError:
                return

    def _end_round(
        self,
        pending: dict[Log, int],
        tasks: list[tuple[Log, FlushTask]],
        error: Exception | None,
    ) -> None:
        if error is None:
            for log_, task in tasks:
                log_.complete_flush(task)
            self.failure = None
            asked = [log_ for log_ in pending if not log_.closed]
            if asked:
                for listener in self.listeners:
                    listener(asked)
        else:
            log.error("fsync failed: %s", error)
            self.failure = error
        self.rounds += 1
        self._in_round = False
        self._round_asked = {}
        done, self._round_done = self._round_done, trio.Event()
        done.set()
        self._start_round()
