"""Free ports for brokers and peers (bench and test harness) stay out of the range outgoing
connections draw from."""

from __future__ import annotations

import socket
from pathlib import Path

from bench.brokers import ephemeral_ports, free_port


def test_free_ports_are_bindable_and_never_ephemeral() -> None:
    taken = ephemeral_ports()
    ports = {free_port() for _ in range(50)}
    assert len(ports) > 40, "picked at random, not walked in order"
    for port in ports:
        assert port not in taken
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_handed_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        busy = listener.getsockname()[1]
        assert all(free_port() != busy for _ in range(200))


def test_the_ephemeral_range_is_read_from_the_kernel_setting(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t40010\n")
    assert ephemeral_ports(str(setting)) == range(40000, 40011)
    assert ephemeral_ports(str(tmp_path / "missing")) == range(32768, 61000)
