"""The client side of the ``rillet`` command line: topics, produce, consume, groups.

Each module holds one command or command group, written as small functions that return data;
:mod:`client.cli.render` prints it. The root ``rillet`` group is built by the broker
distribution, which adds :data:`COMMANDS` to it (the broker knows the client, not the
reverse)::

    rillet topic create|list|describe|alter|delete ...
    rillet produce TOPIC [--key-separator SEP] [--generate N --size BYTES] ...
    rillet consume TOPIC [--from earliest|latest|OFFSET|@TIMESTAMP_MS] [--group G] ...
    rillet group list|describe|reset-offsets|delete ...

Every command takes ``--bootstrap`` (default ``localhost:9092``, env ``RILLET_BOOTSTRAP``).
"""

from __future__ import annotations

import click

from client.cli.consume import consume
from client.cli.group import group
from client.cli.produce import produce
from client.cli.topic import topic

__all__ = ["COMMANDS"]

COMMANDS: tuple[click.Command, ...] = (topic, produce, consume, group)
