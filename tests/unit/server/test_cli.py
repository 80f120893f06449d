"""The `rillet` command line as a user runs it: a real process through `python -m broker.cli`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness.broker import ROOT, BrokerProcess


def _rillet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_key_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    result = _rillet("broker", "start", "--set", "log.dirz=x", "--set", f"log.dirs={tmp_path}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "log.dirz" in lines[0] and "unknown" in lines[0]
    assert not (tmp_path / "rillet-metadata.json").exists()


def test_bad_value_in_the_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('"num.partitions" = -4\n')
    result = _rillet("broker", "start", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rillet: num.partitions: must be at least 1, got -4"
    ]


def test_an_unreachable_etcd_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _rillet(
        "broker", "start",
        "--set", f"log.dirs={tmp_path}",
        "--set", "listeners=PLAINTEXT://127.0.0.1:0",
        "--set", "metadata.store=etcd://127.0.0.1:2379/rillet",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("rillet: metadata.store: ")


def test_config_keys_markdown_lists_every_key() -> None:
    from broker.config import describe_keys

    result = _rillet("broker", "config-keys", "--markdown")
    assert result.returncode == 0
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [k.name for k in describe_keys()]


def test_a_port_in_use_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _rillet(
            "broker", "start",
            "--set", f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--set", f"log.dirs={tmp_path}",
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rillet: cannot start: ") and "Address already in use" in last
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = _rillet("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("rillet, version ")


def test_sigterm_with_a_client_connected_exits_0(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path)
    with broker:
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5
        ).read()
        assert b"rillet_server_connections_accepted_total" in metrics
        client = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
        started = time.monotonic()
        assert broker.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 15
        assert client.recv(10) == b""  # the server closed our idle connection
        client.close()
    output = broker.output()
    assert "listening on PLAINTEXT://127.0.0.1:" in output
    assert "Traceback" not in output
    # The metadata written on first start (the cluster id) is there for the next one.
    assert (tmp_path / "logs" / "rillet-metadata.json").exists()


def test_sigint_also_exits_0(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path) as broker:
        assert broker.stop(signal.SIGINT) == 0
