"""All partitions of a broker: many ``Log``s spread over ``log.dirs``, and their checkpoints.

Each log directory holds ``meta.properties`` (broker id, cluster id), the
partition directories ``<topic>-<partition>`` and three Kafka offset
checkpoints: ``recovery-point-offset-checkpoint`` (what the next start may
trust without reading), ``log-start-offset-checkpoint`` and
``replication-offset-checkpoint`` (high watermarks).

The broker drives time: ``run_retention(now_ms)``, ``logs_due_for_flush(now_ms)``
and ``checkpoint()`` are called from its timers with the injected clock's
time; fsyncs run as ``Log.prepare_flush()`` (event loop) -> ``FlushTask.run()``
(worker thread, e.g. ``trio.to_thread.run_sync``) -> ``Log.complete_flush()``
(event loop).  A deleted partition is renamed to
``<topic>-<partition>.<uuid>-delete`` at once and removed from disk after
``file.delete.delay.ms``, as Kafka does.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from broker.storage.checkpoints import (
    fsync_dir,
    read_offset_checkpoint,
    read_properties,
    write_offset_checkpoint,
    write_properties,
)
from broker.storage.config import LogConfig
from broker.storage.errors import CorruptFileError, LogClosedError, StorageError
from broker.storage.log import Log, parse_partition_dir, wall_clock_ms

META_PROPERTIES = "meta.properties"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_CHECKPOINT = "replication-offset-checkpoint"
DELETE_DIR_SUFFIX = "-delete"

_DELETE_DIR = re.compile(r"^.+-\d+\.[0-9a-f]{32}-delete$")
TopicPartition = tuple[str, int]


class LogManager:
    """The logs of one broker; every method runs on the broker's event-loop thread."""

    def __init__(
        self,
        log_dirs: Sequence[str] | str,
        default_config: LogConfig | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        *,
        broker_id: int = 0,
        cluster_id: str | None = None,
        topic_configs: Mapping[str, LogConfig] | None = None,
    ) -> None:
        """Open every partition found under ``log_dirs`` (recovering after a crash).

        Raises StorageError when ``meta.properties`` names another broker or cluster.
        """
        self.log_dirs = [
            os.path.abspath(d) for d in ([log_dirs] if isinstance(log_dirs, str) else log_dirs)
        ]
        if not self.log_dirs:
            raise ValueError("log.dirs is empty")
        self.default_config = default_config or LogConfig()
        self.topic_configs: dict[str, LogConfig] = dict(topic_configs or {})
        self.clock = clock
        self.broker_id = broker_id
        self.cluster_id = cluster_id
        self.closed = False
        self._logs: dict[TopicPartition, Log] = {}
        self._dir_of: dict[TopicPartition, str] = {}
        self._pending_dir_deletes: list[tuple[int, str]] = []
        for directory in self.log_dirs:
            os.makedirs(directory, exist_ok=True)
            self._check_meta(directory)
            self._load_dir(directory)

    # -- start-up -----------------------------------------------------------------------

    def _check_meta(self, directory: str) -> None:
        path = os.path.join(directory, META_PROPERTIES)
        try:
            props = read_properties(path)
        except FileNotFoundError:
            props = None
        except (CorruptFileError, UnicodeDecodeError) as exc:
            raise StorageError(f"{path}: unreadable ({exc})") from None
        if props is not None:
            if props.get("broker.id") != str(self.broker_id):
                raise StorageError(
                    f"{path}: broker.id={props.get('broker.id')}, "
                    f"but this broker is {self.broker_id}"
                )
            found = props.get("cluster.id")
            if self.cluster_id is not None and found and found != self.cluster_id:
                raise StorageError(
                    f"{path}: cluster.id={found} but this cluster is {self.cluster_id}"
                )
            self.cluster_id = found or self.cluster_id
            return
        if self.cluster_id is None:
            self.cluster_id = uuid.uuid4().hex
        props = {"version": "0", "broker.id": str(self.broker_id), "cluster.id": self.cluster_id}
        write_properties(path, props, "written by the broker on first start; do not edit")

    def _read_checkpoint(self, path: str) -> dict[TopicPartition, int]:
        try:
            return read_offset_checkpoint(path)
        except CorruptFileError:
            return {}  # recovery points fall back to a full scan; nothing is lost

    def _load_dir(self, directory: str) -> None:
        recovery = self._read_checkpoint(os.path.join(directory, RECOVERY_POINT_CHECKPOINT))
        starts = self._read_checkpoint(os.path.join(directory, LOG_START_CHECKPOINT))
        watermarks = self._read_checkpoint(os.path.join(directory, REPLICATION_CHECKPOINT))
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if not os.path.isdir(path):
                continue
            if _DELETE_DIR.match(name):
                shutil.rmtree(path, ignore_errors=True)
                continue
            tp = parse_partition_dir(name)
            if tp is None:
                continue
            if tp in self._logs:
                raise StorageError(f"partition {tp[0]}-{tp[1]} is in two log directories")
            self._logs[tp] = Log(
                path,
                self.config_for(tp[0]),
                clock=self.clock,
                recovery_point=recovery.get(tp),
                log_start_offset=starts.get(tp, 0),
                high_watermark=watermarks.get(tp, 0),
            )
            self._dir_of[tp] = directory

    # -- partitions ---------------------------------------------------------------------

    def config_for(self, topic: str) -> LogConfig:
        """The topic's config, or the broker default."""
        return self.topic_configs.get(topic, self.default_config)

    def set_topic_config(self, topic: str, config: LogConfig) -> None:
        """Use ``config`` for the topic's existing and future partitions."""
        self.topic_configs[topic] = config
        for (t, _), log in self._logs.items():
            if t == topic:
                log.config = config

    def _check_open(self) -> None:
        if self.closed:
            raise LogClosedError("the log manager is closed")

    def get_log(self, topic: str, partition: int) -> Log | None:
        """The partition's log, or None when this broker has none."""
        return self._logs.get((topic, partition))

    def get_or_create_log(self, topic: str, partition: int, config: LogConfig | None = None) -> Log:
        """The partition's log, created in the least-loaded log directory if missing."""
        self._check_open()
        tp = (topic, partition)
        log = self._logs.get(tp)
        if log is not None:
            return log
        if not topic or "/" in topic or topic in (".", "..") or partition < 0:
            raise ValueError(f"invalid partition {topic!r}-{partition}")
        if config is not None:
            self.topic_configs[topic] = config
        counts = {d: 0 for d in self.log_dirs}
        for d in self._dir_of.values():
            counts[d] += 1
        directory = min(self.log_dirs, key=lambda d: counts[d])
        path = os.path.join(directory, f"{topic}-{partition}")
        log = Log(path, self.config_for(topic), clock=self.clock)
        fsync_dir(directory)
        self._logs[tp] = log
        self._dir_of[tp] = directory
        return log

    def all_logs(self) -> list[Log]:
        """Every open log."""
        return list(self._logs.values())

    def partitions(self) -> list[TopicPartition]:
        """(topic, partition) of every open log."""
        return list(self._logs)

    def delete_log(self, topic: str, partition: int) -> None:
        """Close the log and rename its directory for deletion after ``file.delete.delay.ms``.

        KeyError when this broker has no such partition.
        """
        self._check_open()
        tp = (topic, partition)
        log = self._logs.pop(tp)
        directory = self._dir_of.pop(tp)
        log.abandon()
        target = os.path.join(
            directory, f"{topic}-{partition}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}"
        )
        os.rename(log.directory, target)
        fsync_dir(directory)
        self._pending_dir_deletes.append((self.clock() + log.config.file_delete_delay_ms, target))
        self.checkpoint()

    # -- timers -------------------------------------------------------------------------

    def run_retention(self, now_ms: int) -> int:
        """Apply retention to every log and remove deleted files that are due; segments deleted."""
        self._check_open()
        deleted = sum(log.delete_old_segments(now_ms) for log in self._logs.values())
        keep = []
        for due, path in self._pending_dir_deletes:
            if due <= now_ms:
                shutil.rmtree(path, ignore_errors=True)
            else:
                keep.append((due, path))
        self._pending_dir_deletes = keep
        return deleted

    def logs_due_for_flush(self, now_ms: int) -> list[Log]:
        """Logs whose ``flush.messages`` / ``flush.ms`` policy asks for an fsync now."""
        return [log for log in self._logs.values() if log.needs_flush(now_ms)]

    def flush_due(self, now_ms: int) -> int:
        """fsync, here and now, every log the flush policy says is due; returns how many.

        The broker should rather run ``prepare_flush``/``run``/``complete_flush``
        per log with the fsync in a worker thread.
        """
        logs = self.logs_due_for_flush(now_ms)
        for log in logs:
            log.flush()
        return len(logs)

    def flush_all(self) -> None:
        """fsync every log (callable from a worker thread when nothing else runs on the logs)."""
        for log in self.all_logs():
            log.flush()

    def checkpoint(self) -> None:
        """Write the three offset checkpoints of every log directory."""
        for directory in self.log_dirs:
            tps = [tp for tp, d in self._dir_of.items() if d == directory]
            logs = {tp: self._logs[tp] for tp in tps}
            write_offset_checkpoint(
                os.path.join(directory, RECOVERY_POINT_CHECKPOINT),
                {tp: log.recovery_point for tp, log in logs.items()},
            )
            write_offset_checkpoint(
                os.path.join(directory, LOG_START_CHECKPOINT),
                {tp: log.log_start_offset for tp, log in logs.items()},
            )
            write_offset_checkpoint(
                os.path.join(directory, REPLICATION_CHECKPOINT),
                {tp: log.high_watermark for tp, log in logs.items()},
            )

    def close(self) -> None:
        """Clean shutdown of every log, then the checkpoints."""
        if self.closed:
            return
        for log in self._logs.values():
            log.close()
        self.checkpoint()
        self.closed = True

    def abandon(self) -> None:
        """Drop every log without shutdown work (what a crash leaves; for tests)."""
        for log in self._logs.values():
            log.abandon()
        self.closed = True

    def logs_of(self, topic: str) -> Iterable[Log]:
        """The open logs of one topic."""
        return (log for (t, _), log in self._logs.items() if t == topic)
