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
