"""DescribeLogDirs: which log directory holds each partition of this broker, and its size.

Every configured log directory gets a result, holding the partitions whose logs live in it
(all of them when the request's topic list is null, else the requested partitions this
broker hosts; unknown ones are left out, as Kafka does). ``partition_size`` is the bytes of
the log's segments. ``offset_lag`` follows Kafka's definition for a current (not future)
log: how far the log end offset trails the high watermark, which is 0 unless the log is
behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from client.protocol import ErrorCode, RequestHeader

from broker.api.state import state_of
from broker.server.context import RequestContext
from broker.storage.log import Log

Body = dict[str, Any]


def _wanted(topics: list[Body] | None) -> dict[str, set[int]] | None:
    if topics is None:
        return None
    wanted: dict[str, set[int]] = {}
    for entry in topics:
        wanted.setdefault(entry["topic"], set()).update(entry["partitions"])
    return wanted


def _partition_entry(log: Log) -> Body:
    return {
        "partition_index": log.partition,
        "partition_size": log.size,
        "offset_lag": max(log.high_watermark - log.log_end_offset, 0),
        "is_future_key": False,
    }


def describe_dirs(
    log_dirs: Iterable[str], logs: Iterable[Log], wanted: dict[str, set[int]] | None
) -> list[Body]:
    """One DescribeLogDirs result per directory, topics and partitions sorted."""
    by_dir: dict[str, dict[str, list[Body]]] = {d: {} for d in log_dirs}
    for log in logs:
        if wanted is not None and log.partition not in wanted.get(log.topic, ()):
            continue
        topics = by_dir.get(os.path.dirname(log.directory))
        if topics is not None:
            topics.setdefault(log.topic, []).append(_partition_entry(log))
    return [
        {
            "error_code": ErrorCode.NONE,
            "log_dir": directory,
            "topics": [
                {"name": name, "partitions": sorted(parts, key=lambda p: p["partition_index"])}
                for name, parts in sorted(topics.items())
            ],
        }
        for directory, topics in by_dir.items()
    ]


async def handle_describe_log_dirs(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """Describe this broker's log directories and the partitions in each."""
    manager = state_of(ctx).replicas.logs
    results = describe_dirs(manager.log_dirs, manager.all_logs(), _wanted(body.get("topics")))
    return {"throttle_time_ms": 0, "results": results}
