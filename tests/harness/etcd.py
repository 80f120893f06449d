"""A real single-member etcd for tests: free loopback ports, a data directory of its own.

``EtcdProcess(data_dir).start()`` runs the ``etcd`` binary from PATH and returns once the
member has elected itself and answers reads through its JSON gateway. ``restart()`` brings it
back on the same ports and data (history and leases survive), ``kill()`` is a crash, and
``compact(revision)`` drops history the way an operator's compaction would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.broker import free_port

ETCD = shutil.which("etcd") or "etcd"


class EtcdProcess:
    """One etcd member, restartable on the same ports and data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "etcd.log"

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client listener."""
        return f"127.0.0.1:{self.client_port}"

    def url(self, prefix: str) -> str:
        """A ``metadata.store`` value for this member and key prefix."""
        return f"etcd://{self.endpoint}/{prefix}"

    def command(self) -> list[str]:
        """The command line that starts the member."""
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            ETCD,
            "--name", "rillet-test",
            "--data-dir", str(self.data_dir / "member-data"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"rillet-test={peer}",
            # A lone member elects itself after one election timeout; keep that short.
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--logger", "zap",
            "--log-level", "warn",
        ]

    def start(self, timeout: float = 20.0) -> EtcdProcess:
        """Start the member and wait until it serves reads."""
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.process.returncode}:\n{self.output()}")
            try:
                self.post("kv/range", {"key": "AA=="})
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"etcd did not become ready in {timeout} s:\n{self.output()}")

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """One gateway call, for checks and compaction from the test side."""
        request = urllib.request.Request(
            f"http://{self.endpoint}/v3/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())

    def compact(self, revision: int) -> None:
        """Drop the history before ``revision``."""
        self.post("kv/compaction", {"revision": str(revision), "physical": True})

    def output(self) -> str:
        """Everything the member logged."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """kill -9."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> EtcdProcess:
        """Stop, then start again on the same ports and data."""
        self.stop()
        return self.start()

    def __enter__(self) -> EtcdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """One etcd member shared by a module's tests (each test uses a key prefix of its own)."""
    with EtcdProcess(tmp_path_factory.mktemp("etcd")) as process:
        yield process


@pytest.fixture
def own_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    """An etcd member of the test's own, for tests that restart or compact it."""
    with EtcdProcess(tmp_path_factory.mktemp("etcd")) as process:
        yield process
