"""Workloads measuring the machine itself: loopback TCP, sequential disk write, fsync latency."""

from __future__ import annotations

import tempfile

from bench import machine
from bench.child import report_progress
from bench.results import MB, Result, latency_summary, measured
from bench.suite import Context, Workload


def _loopback(seconds: float) -> tuple[int, float]:
    return machine.loopback_tcp(seconds, report_progress)


def _disk(directory: str, total: int) -> tuple[int, float, list[int]]:
    written, elapsed = machine.disk_write(directory, total, report_progress)
    return written, elapsed, []


def loopback(ctx: Context) -> list[Result]:
    """One loopback TCP connection between two processes, 1 MiB sends."""
    ((sent, seconds),), cpu, _ = ctx.run((_loopback, (ctx.scale.loopback_seconds,), {}))
    row = Result(key="machine.loopback", group="machine", system="machine",
                 generator="sockets", workload="loopback TCP, one connection, 1 MiB sends",
                 cpu=cpu, note="generator cores: the sender; the receiving process counts "
                               "under others' cores")
    measured(row, 0, sent, seconds)
    row.records_per_s = None
    return [row]


def disk(ctx: Context) -> list[Result]:
    """Sequential 1 MiB writes then one fsync, and small write+fsync latency, on the data disk."""
    directory = ctx.options.data_root or tempfile.gettempdir()
    ((written, seconds, _),), cpu, _ = ctx.run((_disk, (directory, ctx.scale.disk_bytes), {}))
    write = Result(key="machine.disk", group="machine", system="machine", generator="dd-like",
                   workload=f"sequential write {written // MB:,} MB in 1 MiB blocks + fsync",
                   cpu=cpu)
    measured(write, 0, written, seconds)
    write.records_per_s = None
    samples = machine.fsync_latencies(directory, ctx.scale.fsyncs)
    sync = Result(key="machine.fsync", group="machine", system="machine", generator="dd-like",
                  workload=f"4 KiB append + fsync, {len(samples)} times",
                  latency_ms=latency_summary(samples), seconds=sum(samples) / 1e9,
                  records=len(samples))
    return [write, sync]


WORKLOADS = [
    Workload("machine.loopback", "machine: loopback TCP", 5, loopback),
    Workload("machine.disk", "machine: disk write and fsync", 8, disk),
]
