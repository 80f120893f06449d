"""CPU time of a process and the machine's load, read from /proc (Linux)."""

from __future__ import annotations

import os

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


class CpuMeter:
    """CPU seconds of a set of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}

    def start(self) -> None:
        """Take the starting reading."""
        self._before = {role: cpu_seconds(pid) for role, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """CPU seconds each role used since :meth:`start`."""
        return {role: cpu_seconds(pid) - self._before[role] for role, pid in self.pids.items()}
