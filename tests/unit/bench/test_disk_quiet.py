"""Waiting for the data disk: quick fsyncs again, earlier rows written back."""

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


MEMINFO = """MemTotal:       24576000 kB
Dirty:             {dirty} kB
Writeback:         {writeback} kB
WritebackTmp:          7 kB
"""


def test_unwritten_bytes_counts_dirty_and_writeback_pages() -> None:
    from bench.machine import unwritten_bytes

    assert unwritten_bytes(MEMINFO.format(dirty=2048, writeback=1024)) == 3 * 1024 * 1024
    assert unwritten_bytes("MemTotal: 1 kB\n") == 0


def test_waits_until_the_kernel_has_written_back_after_a_sync() -> None:
    from bench.machine import wait_written_back

    synced: list[int] = []
    left = [4_000_000, 900_000, 70_000, 10_000, 0]  # kB still to write, one per look

    def read() -> str:
        assert synced, "the dirty pages are flushed first"
        kb = left.pop(0) if len(left) > 1 else left[0]
        return MEMINFO.format(dirty=kb, writeback=0)

    waited = wait_written_back(64 * 1024 * 1024, interval=0.01, timeout=30, read=read,
                               sync=lambda: synced.append(1))
    assert synced == [1]
    assert left == [0], "stops at the first look under 64 MiB (10,000 kB)"
    assert waited < 5


def test_gives_up_waiting_for_writeback_at_the_timeout() -> None:
    from bench.machine import wait_written_back

    waited = wait_written_back(1, interval=0.01, timeout=0.3,
                               read=lambda: MEMINFO.format(dirty=5, writeback=0),
                               sync=lambda: None)
    assert 0.3 <= waited < 2
