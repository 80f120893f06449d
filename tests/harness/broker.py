"""Real broker processes for integration and compatibility tests.

A ``BrokerProcess`` runs ``rillet broker start`` (through ``python -m broker.cli``, so the
checkout under test is the one that runs) with the default config file, a free loopback port
and a data directory of the test's own.  It waits until the listener accepts connections, and
stops the way an operator or a crash would: SIGTERM, SIGINT or kill -9.  The broker's output
goes to ``broker.log`` beside the data, and is printed when a start fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.brokers import ephemeral_ports, free_port

__all__ = ["BrokerProcess", "ephemeral_ports", "free_port", "wait_for_port"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "configs" / "broker.toml"


# ApiVersions v0, correlation id 1, client id "probe": any Kafka broker answers it.
_PROBE = bytes.fromhex("0000000f" "0012" "0000" "00000001" "0005") + b"probe"


def _answers_api_versions(port: int) -> bool:
    """True when the broker on ``port`` answers an ApiVersions request (not only listens:
    the kernel completes a connection before the broker accepts it)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(_PROBE)
            head = sock.recv(8, socket.MSG_WAITALL)
            return len(head) == 8 and head[4:8] == b"\x00\x00\x00\x01"
    except OSError:
        return False


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Return once the broker on 127.0.0.1:port answers; raise on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"broker exited with code {process.returncode} before listening")
        if _answers_api_versions(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"no broker answers on 127.0.0.1:{port} after {timeout} s")


class BrokerProcess:
    """One broker started through the CLI, restartable on the same port and data directory."""

    def __init__(
        self,
        data_dir: Path,
        settings: dict[str, str] | None = None,
        config: Path = DEFAULT_CONFIG,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.metrics_port = free_port()
        self.config = config
        self.settings = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir / "logs"),
            "metrics.listener": f"127.0.0.1:{self.metrics_port}",
            **(settings or {}),
        }
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        """``host:port`` for a client's bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts this broker."""
        args = [sys.executable, "-m", "broker.cli", "broker", "start", "--config", str(self.config)]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={value}"]
        return args

    def start(self, timeout: float = 20.0) -> BrokerProcess:
        """Start the broker and wait until it accepts connections."""
        assert self.process is None or self.process.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        try:
            wait_for_port(self.port, timeout, self.process)
        except Exception:
            self.kill()
            raise RuntimeError(f"broker did not start:\n{self.output()}") from None
        return self

    def output(self) -> str:
        """Everything the broker printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait for the exit code (kill -9 after ``timeout``)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"broker ignored signal {sig} for {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, sig: int = signal.SIGTERM) -> BrokerProcess:
        """Stop with ``sig`` (SIGKILL for a crash), then start again on the same port and data."""
        if sig == signal.SIGKILL:
            self.kill()
        else:
            self.stop(sig)
        return self.start()

    def rss_bytes(self) -> int:
        """Resident memory of the broker process."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
