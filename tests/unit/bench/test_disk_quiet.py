"""Waiting for the data disk to answer fsyncs quickly again, on a real file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.machine import wait_disk_quiet


def test_waits_out_slow_fsyncs_then_needs_a_quiet_streak(tmp_path: Path) -> None:
    slow = 20  # the first fsyncs take 30 ms each, as after a large delete

    def sync(fd: int) -> None:
        nonlocal slow
        if slow:
            slow -= 1
            time.sleep(0.03)
        os.fsync(fd)

    waited = wait_disk_quiet(str(tmp_path), limit_ms=20, streak=10, interval=0, timeout=30,
                             sync=sync)
    assert slow == 0
    assert 20 * 0.03 <= waited < 10
    assert list(tmp_path.iterdir()) == [], "the probe file is removed"


def test_a_slow_fsync_starts_the_streak_again(tmp_path: Path) -> None:
    calls = 0

    def sync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            time.sleep(0.05)

    wait_disk_quiet(str(tmp_path), limit_ms=20, streak=10, interval=0, timeout=30, sync=sync)
    assert calls == 15


def test_gives_up_at_the_timeout(tmp_path: Path) -> None:
    waited = wait_disk_quiet(str(tmp_path), limit_ms=0, streak=10, interval=0.01, timeout=0.5)
    assert 0.5 <= waited < 2


def test_a_row_notes_only_a_wait_worth_mentioning() -> None:
    from bench.machine import disk_note

    assert disk_note(1.2) == ""
    assert disk_note(32.4) == "; started once fsyncs took under 5 ms again (after waiting 32 s)"
