"""The suite runner: what a workload is, how long things run, and running them in order.

A :class:`Workload` is a titled function from a :class:`Context` to result rows; it starts its
own servers (a fresh broker or peer each time, so no run inherits another's data) and runs its
load generators as child processes through :meth:`Context.run`, which also keeps the progress
display moving.  A workload that raises becomes a ``failed`` row and the suite goes on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.child import Child
from bench.procstat import (
    block_device,
    cpu_seconds,
    disk_counters,
    load_average,
    machine_busy_seconds,
)
from bench.results import DISK, DISK_BUSY, DISK_WRITTEN, FAILED, MB, Result, cores_busy


@dataclass(frozen=True)
class Scale:
    """How long and how much: the same workloads at full size or as a quick smoke run."""

    seconds: float            # each raw / peer ingest run
    client_records: int       # records per client producer or consumer run
    latency_seconds: float    # the fixed-rate latency run
    latency_rate: int         # records/s of the latency run
    disk_bytes: int           # the sequential disk write
    loopback_seconds: float
    fsyncs: int               # samples of write+fsync latency
    rounds: int               # raw and peer ingest runs keep the best of this many


FULL = Scale(seconds=6, client_records=2_000_000, latency_seconds=10, latency_rate=10_000,
             disk_bytes=1 << 30, loopback_seconds=4, fsyncs=200, rounds=2)
QUICK = Scale(seconds=1.5, client_records=100_000, latency_seconds=2, latency_rate=10_000,
              disk_bytes=128 << 20, loopback_seconds=1, fsyncs=30, rounds=1)


@dataclass
class Options:
    """What the command line asked for."""

    quick: bool = False
    cluster: str | None = None
    only: list[str] = field(default_factory=list)
    peers: bool = True
    data_root: str | None = None
    log_path: str | None = None

    @property
    def scale(self) -> Scale:
        """FULL or QUICK."""
        return QUICK if self.quick else FULL


class Context:
    """What a running workload may use: options, scale, child processes, CPU and disk
    accounting."""

    def __init__(self, options: Options, on_progress: Callable[[float], None]) -> None:
        self.options = options
        self.scale = options.scale
        self.on_progress = on_progress
        self.peer_paths: dict[str, str] = {}
        # Servers keep their data under ``data_root`` (default: the temporary directory).
        self.disk = block_device(options.data_root or tempfile.gettempdir())

    def run(self, *calls: tuple[Callable[..., Any], tuple, dict],
            servers: dict[str, int] | None = None, timeout: float = 900,
            stagger: float = 0.0) -> tuple[list[Any], dict[str, float], float]:
        """Run each ``(fn, args, kwargs)`` in its own process, side by side; wait for all.

        Returns the return values in order, the cores each named server process and each
        generator kept busy (plus ``machine``, every core's busy time, ``others``, what the
        rest of the machine used, and the data disk's ``DISK`` readings), and the wall-clock
        seconds.  ``stagger`` seconds pass between starting one child and the next.
        """
        started = time.perf_counter()
        children = []
        for fn, args, kwargs in calls:
            children.append(Child(fn, *args, log_path=self.options.log_path, **kwargs))
            if stagger:
                time.sleep(stagger)
        pids = dict(servers or {})
        for index, child in enumerate(children):
            pids[f"generator {index}"] = child.pid
        samples = UsageSamples(pids, self.disk)

        def tick() -> None:
            fraction = min(child.fraction() for child in children)
            self.on_progress(fraction)
            samples.take(measuring=max(child.fraction() for child in children) > 0)

        try:
            values = [child.result(timeout, on_wait=tick) for child in children]
        finally:
            for child in children:
                child.kill()
        wall = time.perf_counter() - started
        return values, samples.cores(), wall


class UsageSamples:
    """Readings of CPU used by named processes and the machine, and of the data disk's I/O
    counters, taken while a run goes on.

    Rates are computed over the readings taken while the load generators reported progress
    (their measured interval), so process start-up and set-up are left out.
    """

    def __init__(self, pids: dict[str, int], disk: str | None = None) -> None:
        self.pids = pids
        self.disk = disk
        self.readings: list[tuple[float, dict[str, float]]] = []
        self.first_measuring: int | None = None

    def take(self, measuring: bool) -> None:
        """Read every process's CPU seconds and the machine's busy seconds now."""
        used = {}
        for role, pid in self.pids.items():
            try:
                used[role] = cpu_seconds(pid)
            except OSError:
                continue  # exited already
        used["machine"] = machine_busy_seconds()[0]
        if self.disk is not None:
            written, busy = disk_counters(self.disk)
            used[DISK_BUSY] = busy
            used[DISK_WRITTEN] = written / MB
        self.readings.append((time.perf_counter(), used))
        if measuring and self.first_measuring is None:
            self.first_measuring = len(self.readings) - 1

    def cores(self) -> dict[str, float]:
        """Average cores busy per role over the measured readings (``generator`` summed), and
        the disk's ``DISK`` readings."""
        measured = self.readings[self.first_measuring or 0:]
        # A run shorter than the sampling period has no interval of its own to show.
        return cores_between(measured if len(measured) >= 2 else self.readings)


def cores_between(readings: list[tuple[float, dict[str, float]]]) -> dict[str, float]:
    """Cores each role kept busy between the first and the last reading that name it.

    Roles named ``generator <n>`` add up into ``generator``; ``others`` is the machine's busy
    cores less every named role's.  The ``DISK`` counters (seconds busy, MB written) become
    their rates the same way.
    """
    busy: dict[str, float] = {}
    roles = {role for _, used in readings for role in used}
    for role in roles:
        named = [(t, used[role]) for t, used in readings if role in used]
        if len(named) < 2 or named[-1][0] <= named[0][0]:
            continue
        name = "generator" if role.startswith("generator ") else role
        cores = cores_busy(named[-1][1] - named[0][1], named[-1][0] - named[0][0])
        busy[name] = busy.get(name, 0.0) + cores
    if "machine" in busy:
        named = sum(v for k, v in busy.items() if k != "machine" and k not in DISK)
        busy["others"] = max(0.0, busy["machine"] - named)
    return {role: round(value, 2) for role, value in busy.items()}


def best_of(rounds: int, run: Callable[[Callable[[float], None]], dict],
            progress: Callable[[float], None]) -> dict:
    """Call ``run`` ``rounds`` times; the result with the most records per second.

    ``run`` takes a progress callback for its own run (0..1) and returns a dict with
    ``records`` and ``seconds``; ``progress`` hears the whole, never quite 0 once started.
    """
    best: dict | None = None
    for done in range(rounds):
        out = run(lambda fraction, done=done: progress((done + max(fraction, 0.01)) / rounds))
        if best is None or out["records"] / out["seconds"] > best["records"] / best["seconds"]:
            best = out
    assert best is not None, "rounds must be at least 1"
    return best


@dataclass(frozen=True)
class Workload:
    """A titled step of the suite; ``expected`` seconds at full scale size the progress bar."""

    key: str
    title: str
    expected: float
    fn: Callable[[Context], list[Result]]


def failed_row(workload: Workload, error: BaseException) -> Result:
    """The row that stands for a workload that raised."""
    text = str(error).strip()
    message = text.splitlines()[0] if text else repr(error)
    return Result(key=workload.key, group="failed", system="", generator="",
                  workload=workload.title, status=FAILED, note=message[:300])


def run_workload(workload: Workload, context: Context) -> list[Result]:
    """Run one workload, stamping each row with the load average and turning errors into rows."""
    load = load_average()[0]
    try:
        rows = workload.fn(context)
    except Exception as error:  # noqa: BLE001 - one failed workload must not end the suite
        rows = [failed_row(workload, error)]
    after = load_average()[0]
    for row in rows:
        row.load = (round(load, 2), round(after, 2))
    return rows
