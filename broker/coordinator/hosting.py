"""Group coordinators hosted on the ``__consumer_offsets`` partitions this broker leads.

The coordinator of a group is the leader of partition ``partition_for(group, N)`` of the
internal compacted topic.  For each such partition this broker loads a ``GroupCoordinator`` by
replaying the partition's records (the same replay whatever stopped the broker) and runs it as
a ``CoordinatorService`` whose records are appended to that partition as acks=all batches:
fsynced (group-committed) and, in a cluster, below the high watermark (held by the in-sync
replicas) before the operation's response leaves.  An append that cannot be committed stops
the service, and the group's members go looking for the new coordinator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio

from client.records import build_batch, decode_batches

from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.placement import partition_for
from broker.coordinator.service import CoordinatorService
from broker.replication.partition import Partition
from broker.storage.log import Log

log = logging.getLogger("rillet.coordinator")

OFFSETS_TOPIC = "__consumer_offsets"
Record = tuple[bytes, bytes | None]
READ_CHUNK = 16 * 1024 * 1024
# Offset commit records are about 60 bytes: batches stay far below max.message.bytes.
RECORDS_PER_BATCH = 2000
# How long group records may take to reach the in-sync replicas before the service gives up.
COMMIT_TIMEOUT_S = 30.0


class NotCommittedError(Exception):
    """Group records did not reach the in-sync replicas (leadership moved, or too few)."""


def read_records(log_: Log) -> list[Record]:
    """Every (key, value) of a ``__consumer_offsets`` log, in offset order."""
    records: list[Record] = []
    offset = log_.log_start_offset
    end = log_.log_end_offset
    while offset < end:
        result = log_.read(offset, READ_CHUNK)
        if not len(result):
            break
        batches = decode_batches(result.to_bytes())
        for batch in batches:
            if batch.is_control:
                continue
            records.extend((r.key, r.value) for r in batch.records if r.key is not None)
        offset = batches[-1].last_offset + 1
    return records


class GroupCoordinators:
    """The coordinator services of this broker, by ``__consumer_offsets`` partition."""

    def __init__(
        self,
        config: CoordinatorConfig,
        num_partitions: int,
        nursery: trio.Nursery,
        wait_durable: Callable[[Log, int], Any],
    ) -> None:
        self.config = config
        self.num_partitions = num_partitions
        self._nursery = nursery
        self._wait_durable = wait_durable
        self.services: dict[int, CoordinatorService] = {}
        self.ensure_lock = trio.Lock()  # one creation of __consumer_offsets at a time
        self._scopes: dict[int, trio.CancelScope] = {}
        # Partitions whose service stopped on a failed append: its memory is ahead of its
        # log, so it must be loaded again from the log before it serves anyone.
        self.failed: set[int] = set()
        self.on_failure: Callable[[], None] | None = None

    def partition_of(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition that holds ``group_id``."""
        return partition_for(group_id, self.num_partitions)

    def service_for(self, group_id: str) -> CoordinatorService | None:
        """The running service coordinating ``group_id`` here, or None."""
        return self.services.get(self.partition_of(group_id))

    async def load(self, partition: Partition) -> None:
        """Replay a partition this broker now leads and start its coordinator."""
        if partition.index in self.services:
            return
        started = time.monotonic()
        records = await trio.to_thread.run_sync(read_records, partition.log)
        core = GroupCoordinator.load(records, self.config, now_ms=time.time_ns() // 1_000_000)
        service = CoordinatorService(core, self._appender(partition))
        scope = trio.CancelScope()
        self._scopes[partition.index] = scope
        await self._nursery.start(self._run, service, scope)
        self.services[partition.index] = service
        log.info(
            "loaded %d groups from %s-%d (%d records) in %.3f s",
            len(core.groups), OFFSETS_TOPIC, partition.index, len(records),
            time.monotonic() - started,
        )

    @staticmethod
    async def _run(
        service: CoordinatorService,
        scope: trio.CancelScope,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with scope:
            await service.run(task_status=task_status)

    def unload(self, index: int) -> None:
        """Stop coordinating the groups of a partition (leadership moved away)."""
        self.failed.discard(index)
        self.services.pop(index, None)
        scope = self._scopes.pop(index, None)
        if scope is not None:
            scope.cancel()

    def _appender(self, partition: Partition) -> Callable[[list[Record]], Any]:
        async def append(records: list[Record]) -> None:
            try:
                await write(records)
            except Exception:
                self.failed.add(partition.index)
                if self.on_failure is not None:
                    self.on_failure()
                raise

        async def write(records: list[Record]) -> None:
            batches = bytearray()
            for start in range(0, len(records), RECORDS_PER_BATCH):
                chunk = records[start : start + RECORDS_PER_BATCH]
                batches += build_batch([value for _, value in chunk], [key for key, _ in chunk])
            info = partition.append(memoryview(batches), acks=-1)
            epoch = partition.leader_epoch
            end = info.last_offset + 1
            await self._wait_durable(partition.log, end)
            wait_committed = getattr(partition, "wait_committed", None)
            if wait_committed is None:
                return
            with trio.move_on_after(COMMIT_TIMEOUT_S):
                outcome = await wait_committed(end, epoch)
                if outcome.name == "COMMITTED":
                    return
                raise NotCommittedError(
                    f"{OFFSETS_TOPIC}-{partition.index}: group records not committed "
                    f"({outcome.name})"
                )
            raise NotCommittedError(
                f"{OFFSETS_TOPIC}-{partition.index}: group records not committed in "
                f"{COMMIT_TIMEOUT_S:.0f} s"
            )

        return append
