"""Start a Rillet broker process for a benchmark: free loopback port, temporary data dir.

``local_broker(settings)`` is the context manager the single-purpose benchmarks use (it
yields the bootstrap address); :class:`BrokerProcess` is the same with the process id and
the data directory exposed, for the suite's CPU and disk accounting.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raise if ``process`` died first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"{what} did not start listening on {port}: {output[-2000:]}")
            time.sleep(0.05)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class BrokerProcess:
    """A ``rillet broker start`` process with the default config and ``settings`` on top.

    With ``profile_to``, the broker runs under cProfile and writes its profile there when it
    stops.
    """

    def __init__(self, settings: dict[str, str] | None = None, data_root: str | None = None,
                 profile_to: str | None = None):
        self.settings = dict(settings or {})
        self.profile_to = profile_to
        self.data = Path(tempfile.mkdtemp(prefix="rillet-bench-", dir=data_root))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        """host:port to give clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The broker's process id (it runs in one process)."""
        assert self.process is not None, "broker not started"
        return self.process.pid

    def start(self) -> None:
        """Start the process and wait until it accepts connections."""
        profiler = ["-m", "cProfile", "-o", self.profile_to] if self.profile_to else []
        args = [
            sys.executable, *profiler, "-m", "broker.cli", "broker", "start",
            "--config", str(ROOT / "configs" / "broker.toml"),
            "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--set", f"log.dirs={self.data}",
            "--set", "metrics.listener=",
        ]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={value}"]
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for_port(self.port, self.process, "broker")

    def stop(self) -> None:
        """Stop the process and delete its data."""
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> BrokerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def local_broker(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``rillet broker start`` with the default config on a free port; yield bootstrap."""
    with BrokerProcess(settings) as broker:
        yield broker.bootstrap
