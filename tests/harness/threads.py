"""librdkafka's own threads in this process, which outlive a client that nobody closed.

A confluent-kafka client is destroyed, and its threads stopped, only when the last reference
to it goes.  One caught in a reference cycle (a ``pytest.raises`` record holds the frame that
holds the client) waits for a full garbage collection, which in a process as large as the test
suite's may not come for many modules: meanwhile it keeps reconnecting to a broker that has
stopped, on the cores the next tests need.
"""

from __future__ import annotations

import gc
import os
import time

THREAD_PREFIX = "rdk:"  # librdkafka names its threads rdk:main, rdk:bg, rdk:broker<id>...


def client_threads() -> list[str]:
    """The names of this process's librdkafka threads (read from /proc, Linux)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue  # ended meanwhile
        if name.startswith(THREAD_PREFIX):
            names.append(name)
    return sorted(names)


def collect_clients(timeout: float = 10.0) -> list[str]:
    """Collect unreachable clients and wait for their threads to end; the names still left."""
    if not client_threads():
        return []
    gc.collect()
    deadline = time.monotonic() + timeout
    while (left := client_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
