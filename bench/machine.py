"""The machine's own limits, measured in the same run: loopback TCP and the data disk.

Loopback TCP: one process sends 1 MiB buffers, another receives them into a reused buffer;
no parsing, so this is the most a broker could move over one connection here.  Disk: a
dd-like sequential write of 1 MiB blocks into the directory broker data goes to, with one
fsync at the end (inside the timed interval), then the latency of small write+fsync pairs,
which is what a durable acks=all write waits for.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable

from bench.brokers import free_port

MIB = 1 << 20
QUIET_FSYNC_MS = 5.0  # ``wait_disk_quiet``: an fsync this quick means the disk is quiet


def facts() -> dict[str, object]:
    """CPU model, cores, memory, kernel and Python: what the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / (1 << 30), 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }


def _receive(port: int, ready: object) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen(1)
        ready.set()  # type: ignore[attr-defined]
        conn, _ = server.accept()
        buffer = memoryview(bytearray(MIB))
        with conn:
            while conn.recv_into(buffer):
                pass


def loopback_tcp(seconds: float, progress: Callable[[float], None] | None = None) -> tuple[int, float]:
    """(bytes sent, seconds) over one loopback connection to a receiving process."""
    context = multiprocessing.get_context("spawn")
    port = free_port()
    ready = context.Event()
    receiver = context.Process(target=_receive, args=(port, ready), daemon=True)
    receiver.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("loopback receiver did not start")
        block = os.urandom(MIB)
        sent = 0
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.perf_counter()
            deadline = started + seconds
            while (now := time.perf_counter()) < deadline:
                for _ in range(64):
                    sock.sendall(block)
                sent += 64 * MIB
                if progress is not None:
                    progress((now - started) / seconds)
            sock.shutdown(socket.SHUT_WR)
        receiver.join(30)
        elapsed = time.perf_counter() - started
    finally:
        if receiver.is_alive():
            receiver.kill()
    return sent, elapsed


def disk_write(directory: str, total_bytes: int,
               progress: Callable[[float], None] | None = None) -> tuple[int, float]:
    """(bytes written, seconds) for a sequential write of ``total_bytes`` plus one fsync."""
    block = os.urandom(MIB)
    fd, path = tempfile.mkstemp(prefix="disk-bench-", dir=directory)
    try:
        started = time.perf_counter()
        written = 0
        while written < total_bytes:
            written += os.write(fd, block)
            if progress is not None and not written % (64 * MIB):
                progress(written / total_bytes)
        os.fsync(fd)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        os.unlink(path)
    return written, elapsed


def wait_disk_quiet(directory: str | None = None, limit_ms: float = QUIET_FSYNC_MS,
                    streak: int = 600, interval: float = 0.01, timeout: float = 180.0,
                    sync: Callable[[int], None] = os.fsync) -> float:
    """Wait until ``streak`` 4 KiB append+fsync pairs in a row, ``interval`` apart, each take
    under ``limit_ms`` (or ``timeout`` passes); the seconds waited.

    A filesystem mounted with online discard stays busy for tens of seconds after gigabytes
    are deleted (a previous row's data), and an fsync meanwhile can take 100 ms or more: a
    latency row started then would measure the previous row's clean-up.  The slow fsyncs
    come in bursts a few seconds apart (journal commits), so the default streak spans more
    than the 5 s between two commits.
    """
    fd, path = tempfile.mkstemp(prefix="disk-quiet-", dir=directory)
    block = b"\0" * 4096
    started = time.monotonic()
    quiet = 0
    try:
        while quiet < streak and time.monotonic() - started < timeout:
            began = time.perf_counter()
            os.write(fd, block)
            sync(fd)
            quiet = quiet + 1 if (time.perf_counter() - began) * 1000 < limit_ms else 0
            time.sleep(interval)
    finally:
        os.close(fd)
        os.unlink(path)
    return time.monotonic() - started


def unwritten_bytes(meminfo: str) -> int:
    """Bytes the kernel has yet to write to disk (``Dirty`` + ``Writeback``) in the text of
    ``/proc/meminfo``."""
    total = 0
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Dirty", "Writeback"):
            total += int(rest.split()[0]) * 1024  # the kernel counts in kB
    return total


def _read_meminfo() -> str:
    with open("/proc/meminfo") as meminfo:
        return meminfo.read()


def wait_written_back(limit_bytes: int = 64 * MIB, interval: float = 0.2,
                      timeout: float = 180.0, read: Callable[[], str] = _read_meminfo,
                      sync: Callable[[], None] = os.sync) -> float:
    """Write back every dirty page (``sync``) and wait until less than ``limit_bytes`` is
    left unwritten (or ``timeout`` passes); the seconds waited.

    Rows that keep their data (the replicated ones share one cluster) leave gigabytes in the
    page cache for the kernel to write out over the next seconds; the row after would share
    the disk with that and measure less than its own cost.  Without /proc/meminfo only the
    sync is done.
    """
    started = time.monotonic()
    sync()
    try:
        while unwritten_bytes(read()) >= limit_bytes:
            if time.monotonic() - started >= timeout:
                break
            time.sleep(interval)
    except OSError:
        pass
    return time.monotonic() - started


def disk_note(waited: float, at_least: float = 3.0) -> str:
    """A row's note on a wait of ``wait_disk_quiet`` long enough to mention, else ''."""
    if waited < at_least:
        return ""
    return (f"; started once fsyncs took under {QUIET_FSYNC_MS:g} ms again (after waiting "
            f"{waited:.0f} s)")


def fsync_latencies(directory: str, count: int, size: int = 4096) -> list[int]:
    """Nanoseconds of ``count`` append+fsync pairs of ``size`` bytes each."""
    block = os.urandom(size)
    fd, path = tempfile.mkstemp(prefix="fsync-bench-", dir=directory)
    samples = []
    try:
        for _ in range(count):
            started = time.perf_counter_ns()
            os.write(fd, block)
            os.fsync(fd)
            samples.append(time.perf_counter_ns() - started)
    finally:
        os.close(fd)
        os.unlink(path)
    return samples
