"""CPU time of a process, the machine's load and a disk's I/O counters, read from /proc (Linux)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by every thread of process ``pid``."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read()
    # The command name in parentheses may hold spaces; the fields we need follow its ')'.
    fields = text[text.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def machine_busy_seconds() -> tuple[float, float]:
    """(busy CPU seconds, total CPU seconds) summed over all cores since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / _TICKS, total / _TICKS


SECTOR = 512  # /proc/diskstats counts sectors of 512 bytes, whatever the device's own size


def block_device(path: str) -> str | None:
    """The /proc/diskstats name of the block device holding ``path``; None when there is none
    (tmpfs, overlay and other file systems without a device of their own)."""
    device = os.stat(path).st_dev
    wanted = (os.major(device), os.minor(device))
    with open("/proc/diskstats") as stats:
        for line in stats:
            fields = line.split()
            if (int(fields[0]), int(fields[1])) == wanted:
                return fields[2]
    return None


def disk_counters(device: str) -> tuple[int, float]:
    """(bytes written, seconds with I/O in flight) on ``device`` since boot (/proc/diskstats)."""
    with open("/proc/diskstats") as stats:
        for line in stats:
            fields = line.split()
            if fields[2] == device:
                return int(fields[9]) * SECTOR, int(fields[12]) / 1000
    raise FileNotFoundError(f"no block device {device!r} in /proc/diskstats")


def wait_idle(pids: Iterable[int], threshold: float = 0.15, interval: float = 1.0,
              timeout: float = 180.0) -> float:
    """Wait until the processes together use less than ``threshold`` cores over ``interval``
    seconds (or ``timeout`` passes); the seconds waited.  A process that has gone counts as
    idle."""
    pids = list(pids)

    def used() -> float:
        total = 0.0
        for pid in pids:
            try:
                total += cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total

    started = time.monotonic()
    before = used()
    while True:
        time.sleep(interval)
        after = used()
        waited = time.monotonic() - started
        if after - before < threshold * interval or waited >= timeout:
            return waited
        before = after
