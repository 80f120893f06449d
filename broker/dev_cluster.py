"""`rillet dev cluster up`: etcd and three brokers on this machine, for trying a cluster out.

The brokers run with the configs in ``configs/cluster/`` (node ids 1-3 on ports 9092-9094,
metadata in etcd on 127.0.0.1:2379 under ``rillet``), each as a child process started in the
given directory, so their relative ``data/`` directories land there.  An etcd that already
answers on 2379 is used as it is; otherwise one is started with its data in ``data/etcd``.
Ctrl-C (or SIGTERM) stops the brokers the way an operator would, with SIGTERM and so with a
controlled shutdown, one after another, then etcd.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from broker.config import load_config

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PACKAGE_ROOT / "configs" / "cluster"
ETCD_CLIENT = ("127.0.0.1", 2379)
ETCD_PEER_PORT = 2380
NODES = (1, 2, 3)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class DevClusterError(Exception):
    """The local cluster cannot start; the message says why."""


@dataclass
class Child:
    """A process the helper started, with the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def _etcd_answers() -> bool:
    host, port = ETCD_CLIENT
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait(check: Callable[[], bool], child: Child, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise DevClusterError(
                f"{child.name} exited with code {child.process.returncode}; see {child.log_path}"
            )
        if check():
            return
        time.sleep(0.1)
    raise DevClusterError(f"{what} did not come up in {START_TIMEOUT_S:.0f} s; see {child.log_path}")


def _spawn(name: str, command: list[str], workdir: Path) -> Child:
    logs = workdir / "data" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    # The brokers run the same code as this helper, wherever the working directory is.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=env,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the helper only; it stops them in order
        )
    return Child(name, process, log_path)


def start_etcd(workdir: Path) -> Child | None:
    """Start an etcd member in ``workdir/data/etcd``; None when one already answers."""
    if _etcd_answers():
        return None
    binary = shutil.which("etcd")
    if binary is None:
        raise DevClusterError("no etcd on PATH (Debian and Ubuntu: apt install etcd-server)")
    host, port = ETCD_CLIENT
    client = f"http://{host}:{port}"
    peer = f"http://{host}:{ETCD_PEER_PORT}"
    child = _spawn("etcd", [
        binary, "--name", "rillet-etcd", "--data-dir", "data/etcd",
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"rillet-etcd={peer}",
    ], workdir)  # fmt: skip
    _wait(_etcd_answers, child, "etcd")
    return child


def start_broker(node: int, workdir: Path, config_dir: Path) -> tuple[Child, str]:
    """Start broker ``node`` with its config; it and its ``host:port``."""
    config_path = config_dir / f"broker{node}.toml"
    config = load_config(config_path)
    listener = config.listeners[0]
    command = [sys.executable, "-m", "broker.cli", "broker", "start", "--config", str(config_path)]
    child = _spawn(f"broker{node}", command, workdir)
    _wait(lambda: _port_open(listener.host, listener.port), child, f"broker {node}")
    return child, f"{listener.host}:{listener.port}"


def stop(child: Child) -> int | None:
    """SIGTERM, then wait (kill after STOP_TIMEOUT_S); its exit code."""
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    return child.process.returncode


def run(workdir: Path, config_dir: Path = CONFIG_DIR, echo: Callable[[str], None] = print) -> None:
    """Start etcd and the brokers, print where they are, and stop them all on Ctrl-C."""
    workdir = workdir.resolve()
    config_dir = config_dir.resolve()
    if not (config_dir / "broker1.toml").exists():
        raise DevClusterError(f"no broker configs in {config_dir}")
    children: list[Child] = []
    previous = {
        sig: signal.signal(sig, signal.default_int_handler)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        etcd = start_etcd(workdir)
        if etcd is None:
            echo("etcd: using the one already on {}:{}".format(*ETCD_CLIENT))
        else:
            children.append(etcd)
            echo("etcd: http://{}:{} (data in {}/data/etcd)".format(*ETCD_CLIENT, workdir))
        endpoints = []
        for node in NODES:
            child, endpoint = start_broker(node, workdir, config_dir)
            children.append(child)
            endpoints.append(endpoint)
            echo(f"broker {node}: {endpoint} (log: {child.log_path})")
        echo(f"bootstrap servers: {','.join(endpoints)}")
        echo("Ctrl-C stops the cluster.")
        while all(c.process.poll() is None for c in children):
            time.sleep(0.5)
        gone = next(c for c in children if c.process.poll() is not None)
        echo(f"{gone.name} exited with code {gone.process.returncode}; stopping the rest")
    except KeyboardInterrupt:
        echo("stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Brokers first, one at a time (each hands its leaderships away), etcd last.
        for child in reversed(children):
            code = stop(child)
            echo(f"{child.name} stopped (exit code {code})")
