"""Install the peers' servers from the distribution's packages when they are missing.

Run on its own as ``python -m bench.peers.install``; the suite calls :func:`ensure` before it
starts a peer.  Needs root and apt-get; without them a missing server is reported, not
installed, and the peer's rows say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess

SERVERS = {"redis-server": "redis-server", "nats-server": "nats-server"}


def _apt_install(packages: list[str]) -> str | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    first = subprocess.run(command, env=env, capture_output=True, text=True)
    if first.returncode == 0:
        return None
    # A fresh machine may have no package lists yet.
    subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    if second.returncode == 0:
        return None
    return (second.stderr or second.stdout).strip().splitlines()[-1]


def ensure(binaries: list[str] | None = None) -> dict[str, str]:
    """Install what is missing; map each binary to its path or to why it is not there.

    A value starting with ``/`` is the binary's path; anything else is the reason.
    """
    wanted = binaries or list(SERVERS)
    missing = [name for name in wanted if shutil.which(name) is None]
    failure = None
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            failure = "not installed (installing needs root and apt-get)"
        else:
            reason = _apt_install([SERVERS[name] for name in missing])
            failure = f"apt-get install failed: {reason}" if reason else None
    found = {}
    for name in wanted:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        found[name] = path if path else (failure or "not installed")
    return found


def main() -> None:
    """Install the peers and print where each server is."""
    for name, where in ensure().items():
        print(f"{name}: {where}")


if __name__ == "__main__":
    main()
