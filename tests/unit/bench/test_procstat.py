"""Waiting for processes to go idle, measured on real child processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.procstat import wait_idle

# Busy for the given seconds, then asleep until killed.
_BUSY_THEN_SLEEP = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def child() -> Iterator[object]:
    started: list[subprocess.Popen] = []

    def start(busy_s: float) -> int:
        process = subprocess.Popen([sys.executable, "-c", _BUSY_THEN_SLEEP, str(busy_s)])
        started.append(process)
        return process.pid

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_waits_until_a_busy_process_goes_idle(child) -> None:
    pid = child(1.5)
    waited = wait_idle([pid], interval=0.25, timeout=20)
    assert 1.2 <= waited < 5


def test_an_idle_process_or_a_gone_one_needs_one_interval(child) -> None:
    pid = child(0)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert wait_idle([pid, gone.pid], interval=0.25, timeout=20) < 1


def test_gives_up_at_the_timeout(child) -> None:
    pid = child(30)
    waited = wait_idle([pid], interval=0.25, timeout=1)
    assert 1 <= waited < 2
