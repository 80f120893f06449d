"""The trio adapter around one ``GroupCoordinator``: appends its records, holds requests,
runs its timers.

One ``CoordinatorService`` per ``__consumer_offsets`` partition this broker leads. A request
handler awaits, for example, ``service.join_group(body, version, client_id=..,
client_host=..)`` and gets the response body. Inside, the pure coordinator runs at once (no
await between reading the clock and changing state); its result goes into one FIFO that a
single task drains: append the records, then hand out the responses. So records reach the log
in the order the operations happened, and no response leaves before the records it depends on.

Time: ``now_ms`` is wall-clock milliseconds (commit timestamps and the group state timestamp
are stored, and Kafka tools show them as dates) advanced by trio's clock, so a ``MockClock``
drives everything in tests. The timer task sleeps until the coordinator's next deadline;
every operation moves that sleep's deadline to the coordinator's new next deadline; there is
no polling.

If appending fails, the coordinator's memory is ahead of its log: the service stops
(``CoordinatorUnavailable`` for every caller, which a handler answers with NOT_COORDINATOR)
and the broker must load the partition again into a new service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from broker.coordinator.coordinator import GroupCoordinator, Result

Record = tuple[bytes, bytes | None]
Body = dict[str, Any]
AppendRecords = Callable[[list[Record]], Awaitable[None]]


class CoordinatorUnavailable(Exception):
    """The service has stopped (append failed or the partition was unloaded)."""


class _Waiter:
    """One held request: set once with its response body or an error."""

    __slots__ = ("event", "body", "error")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.body: Body | None = None
        self.error: BaseException | None = None


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class CoordinatorService:
    """Runs one ``GroupCoordinator`` on trio; create it inside trio, then ``run`` it in a
    nursery (``await nursery.start(service.run)``)."""

    def __init__(
        self,
        coordinator: GroupCoordinator,
        append: AppendRecords,
        *,
        wall_clock_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        self.coordinator = coordinator
        self._append = append
        self._trio0 = trio.current_time()
        self._wall0 = wall_clock_ms()
        self._waiters: dict[int, _Waiter] = {}
        self._send, self._receive = trio.open_memory_channel[tuple[list[Record], dict[int, Body]]](
            math.inf
        )
        self._timer_scope: trio.CancelScope | None = None
        self._failure: BaseException | None = None

    def now_ms(self) -> int:
        """The coordinator's clock: wall-clock milliseconds moved by trio's clock."""
        return self._wall0 + round((trio.current_time() - self._trio0) * 1000)

    def _trio_time(self, deadline_ms: int | None) -> float:
        if deadline_ms is None:
            return math.inf
        return self._trio0 + (deadline_ms - self._wall0) / 1000

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Append records, deliver responses and run timers until cancelled; on the way out
        every held request fails with ``CoordinatorUnavailable``."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._deliver)
                nursery.start_soon(self._run_timers)
                task_status.started()
        finally:
            self._stop(CoordinatorUnavailable("coordinator unloaded"))

    def _stop(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.error = self._failure
            waiter.event.set()

    async def _deliver(self) -> None:
        # Every result queued meanwhile goes into one append: one durable write (one fsync)
        # serves all the operations that arrived while the previous one was being written.
        while True:
            try:
                pending = [await self._receive.receive()]
            except trio.EndOfChannel:
                return
            while True:
                try:
                    pending.append(self._receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            records = [record for queued, _ in pending for record in queued]
            if records and self._failure is None:
                try:
                    await self._append(records)
                except Exception as exc:
                    self._stop(CoordinatorUnavailable(f"appending group records failed: {exc}"))
            for _, responses in pending:
                for ticket, body in responses.items():
                    waiter = self._waiters.pop(ticket, None)
                    if waiter is not None:
                        if self._failure is None:
                            waiter.body = body
                        else:
                            waiter.error = self._failure
                        waiter.event.set()

    async def _run_timers(self) -> None:
        while True:
            with trio.CancelScope(
                deadline=self._trio_time(self.coordinator.next_deadline())
            ) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None
            self._submit(self.coordinator.tick(self.now_ms()))

    def _submit(self, result: Result) -> None:
        if result.records or result.responses:
            self._send.send_nowait((result.records, result.responses))
        if self._timer_scope is not None:
            self._timer_scope.deadline = self._trio_time(self.coordinator.next_deadline())

    async def call(self, operation: Callable[[int], Result]) -> Body:
        """Run ``operation(now_ms)`` on the coordinator and wait for its response."""
        if self._failure is not None:
            raise CoordinatorUnavailable(str(self._failure))
        result = operation(self.now_ms())
        waiter = _Waiter()
        self._waiters[result.ticket] = waiter
        self._submit(result)
        try:
            await waiter.event.wait()
        finally:
            # A caller that goes away (connection closed) leaves no waiter behind.
            self._waiters.pop(result.ticket, None)
        if waiter.error is not None:
            raise CoordinatorUnavailable(str(waiter.error)) from waiter.error
        assert waiter.body is not None
        return waiter.body

    async def join_group(
        self, body: Body, version: int, *, client_id: str, client_host: str
    ) -> Body:
        """JoinGroup; returns when the rebalance completes (or at once for an error)."""
        return await self.call(
            lambda now: self.coordinator.join_group(
                body, version, now, client_id=client_id, client_host=client_host
            )
        )

    async def sync_group(self, body: Body, version: int) -> Body:
        """SyncGroup; a follower returns when the leader's assignment is stored."""
        return await self.call(lambda now: self.coordinator.sync_group(body, version, now))

    async def heartbeat(self, body: Body, version: int) -> Body:
        """Heartbeat."""
        return await self.call(lambda now: self.coordinator.heartbeat(body, version, now))

    async def leave_group(self, body: Body, version: int) -> Body:
        """LeaveGroup (one member in v0-2, a batch in v3+)."""
        return await self.call(lambda now: self.coordinator.leave_group(body, version, now))

    async def commit_offsets(self, body: Body, version: int) -> Body:
        """OffsetCommit; returns once the offsets are appended."""
        return await self.call(lambda now: self.coordinator.commit_offsets(body, version, now))

    async def fetch_offsets(self, body: Body, version: int) -> Body:
        """OffsetFetch for one group."""
        return await self.call(lambda now: self.coordinator.fetch_offsets(body, version, now))

    async def delete_offsets(self, body: Body, version: int) -> Body:
        """OffsetDelete."""
        return await self.call(lambda now: self.coordinator.delete_offsets(body, version, now))

    async def describe_groups(self, body: Body, version: int) -> Body:
        """DescribeGroups for groups of this partition."""
        return await self.call(lambda now: self.coordinator.describe_groups(body, version, now))

    async def list_groups(self, body: Body, version: int) -> Body:
        """ListGroups for this partition's groups (the handler merges partitions)."""
        return await self.call(lambda now: self.coordinator.list_groups(body, version, now))

    async def delete_groups(self, body: Body, version: int) -> Body:
        """DeleteGroups for groups of this partition."""
        return await self.call(lambda now: self.coordinator.delete_groups(body, version, now))
