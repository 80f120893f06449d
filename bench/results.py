"""What one benchmark measured, and the arithmetic that turns raw counts into reported figures.

Pure: no sockets, no processes, no clock.  A :class:`Result` is one row of the suite's output
(one workload, one system, one load generator); :class:`Run` is the whole suite run with the
machine facts and load it ran under.  Both round-trip through JSON so that a saved run can be
rendered again later (``python -m bench.report``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
SKIPPED = "not available"
FAILED = "failed"

MB = 1_000_000

# Readings of the data disk kept beside the cores in ``Result.cpu``: over the measured
# interval, the fraction of it the disk had I/O in flight, and the MB/s written to it.
DISK_BUSY = "disk busy"
DISK_WRITTEN = "disk MB/s"
DISK = (DISK_BUSY, DISK_WRITTEN)


@dataclass
class Result:
    """One row: a workload run by one system through one load generator.

    ``status`` is ``ok``, ``not available`` (with the reason in ``note``: a missing cluster or
    peer, never a made-up figure) or ``failed`` (the error in ``note``).  Rates are per second
    of wall-clock time over the measured interval; ``latency_ms`` maps percentile labels
    (``p50``...) to milliseconds.  ``cpu`` maps a process role (``broker``, ``redis``...) to the
    cores it kept busy on average (1.0 = one core fully used), and holds the data disk's
    ``DISK`` readings when the disk could be read.
    """

    key: str
    group: str
    system: str
    generator: str
    workload: str
    status: str = OK
    records: int = 0
    payload_bytes: int = 0
    seconds: float = 0.0
    records_per_s: float | None = None
    mb_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the row carries measured figures."""
        return self.status == OK


@dataclass
class Run:
    """A whole suite run: when, on what, under which load, and every row."""

    started: str
    mode: str
    machine: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    seconds: float = 0.0

    def find(self, key: str) -> Result | None:
        """The row with ``key``, or None."""
        for result in self.results:
            if result.key == key:
                return result
        return None


def throughput(records: int, payload_bytes: int, seconds: float) -> tuple[float, float]:
    """(records/s, MB/s of payload) for ``records`` carrying ``payload_bytes`` in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"a measured interval must be positive, got {seconds}")
    return records / seconds, payload_bytes / seconds / MB


def measured(result: Result, records: int, payload_bytes: int, seconds: float) -> Result:
    """Fill ``result``'s counts and rates from one measured interval; returns it."""
    result.records = records
    result.payload_bytes = payload_bytes
    result.seconds = seconds
    result.records_per_s, result.mb_per_s = throughput(records, payload_bytes, seconds)
    return result


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` in [0, 1])."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction out of range: {fraction}")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


LATENCY_POINTS = (("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0))


def latency_summary(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max of nanosecond samples, in milliseconds."""
    ordered = sorted(samples_ns)
    return {label: percentile(ordered, q) / 1e6 for label, q in LATENCY_POINTS}


def cores_busy(cpu_seconds: float, wall_seconds: float) -> float:
    """Average cores kept busy: CPU seconds used over a wall-clock interval."""
    if wall_seconds <= 0:
        raise ValueError(f"a measured interval must be positive, got {wall_seconds}")
    return cpu_seconds / wall_seconds


def ratio(numerator: Result | None, denominator: Result | None) -> float | None:
    """records/s of one row over another's, or None when either has no figure."""
    if numerator is None or denominator is None:
        return None
    if not (numerator.ok and denominator.ok):
        return None
    top, bottom = numerator.records_per_s, denominator.records_per_s
    if top is None or not bottom:
        return None
    return top / bottom


def to_json(run: Run) -> str:
    """The run as indented JSON."""
    return json.dumps(asdict(run), indent=2, sort_keys=False)


def from_json(text: str) -> Run:
    """A run read back from :func:`to_json`'s output."""
    data = json.loads(text)
    rows = []
    for row in data.pop("results"):
        if row.get("load") is not None:
            row["load"] = tuple(row["load"])
        rows.append(Result(**row))
    for name in ("load_before", "load_after"):
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    return Run(results=rows, **data)


def save(run: Run, directory: Path) -> Path:
    """Write the run to ``directory/<started>.json``; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run.started.replace(':', '-')}.json"
    path.write_text(to_json(run))
    return path


def load(path: Path) -> Run:
    """Read a run written by :func:`save`."""
    return from_json(path.read_text())
