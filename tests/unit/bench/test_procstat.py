"""Waiting for processes to go idle, measured on real child processes; the disk counters."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.procstat import block_device, disk_counters, wait_idle

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


def _sysfs_name(path: Path) -> str | None:
    """The device name the kernel gives the file system of ``path`` in sysfs, if it has one."""
    device = os.stat(path).st_dev
    uevent = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/uevent")
    if not uevent.exists():
        return None
    for line in uevent.read_text().splitlines():
        if line.startswith("DEVNAME="):
            return line.split("=", 1)[1]
    return None


def test_block_device_is_the_one_sysfs_names(tmp_path: Path) -> None:
    assert block_device(str(tmp_path)) == _sysfs_name(tmp_path)


def test_no_block_device_under_proc() -> None:
    assert block_device("/proc") is None


def test_disk_counters_count_an_fsynced_write(tmp_path: Path) -> None:
    device = block_device(str(tmp_path))
    if device is None:
        pytest.skip("the temporary directory is on no block device here")
    written_before, busy_before = disk_counters(device)
    with open(tmp_path / "data", "wb") as out:
        out.write(os.urandom(8 << 20))
        out.flush()
        os.fsync(out.fileno())
    written_after, busy_after = disk_counters(device)
    assert written_after - written_before >= 8 << 20
    assert busy_after > busy_before


def test_disk_counters_of_an_unknown_device() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-disk"):
        disk_counters("no-such-disk")
