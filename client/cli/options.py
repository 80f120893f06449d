"""Options the client commands share: where the cluster is, ``key=value`` pairs, positions.

A position names where to start reading or where to move a group: ``earliest``, ``latest``,
an offset (``42``) or a timestamp in ms since the epoch (``@1700000000000``, the first record
at or after it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import click

DEFAULT_BOOTSTRAP = "localhost:9092"
BOOTSTRAP_ENV = "RILLET_BOOTSTRAP"
DEFAULT_TIMEOUT_S = 30.0
CLIENT_ID = "rillet-cli"


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--bootstrap HOST:PORT[,HOST:PORT...]`` (env RILLET_BOOTSTRAP) and
    ``--timeout SECONDS``; the command receives them as ``bootstrap`` and ``timeout``."""
    fn = click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_TIMEOUT_S,
        show_default=True,
        metavar="SECONDS",
        help="How long to wait for the cluster (connecting, each request) before giving up.",
    )(fn)
    return click.option(
        "--bootstrap",
        default=DEFAULT_BOOTSTRAP,
        envvar=BOOTSTRAP_ENV,
        show_default=True,
        metavar="HOST:PORT",
        help=f"Brokers to bootstrap from, comma-separated (env {BOOTSTRAP_ENV}).",
    )(fn)


def client_options(bootstrap: str, timeout: float) -> dict[str, Any]:
    """SDK client options for ``--bootstrap`` and ``--timeout``."""
    timeout_ms = max(int(timeout * 1000), 1)
    return {
        "bootstrap_servers": [part.strip() for part in bootstrap.split(",") if part.strip()],
        "client_id": CLIENT_ID,
        "request_timeout_ms": timeout_ms,
        "socket_connection_setup_timeout_ms": timeout_ms,
    }


def parse_pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a value without ``=`` is a usage error naming ``option``."""
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        pairs[key] = value
    return pairs


def non_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback refusing an empty string (e.g. a separator)."""
    if value == "":
        raise click.BadParameter("must not be empty")
    return value


class Position(NamedTuple):
    """Where to start: ``kind`` is "earliest", "latest", "offset" or "timestamp"."""

    kind: str
    value: int = 0

    def __str__(self) -> str:
        if self.kind == "offset":
            return str(self.value)
        if self.kind == "timestamp":
            return f"@{self.value}"
        return self.kind


class PositionType(click.ParamType):
    """Click type for ``earliest|latest|OFFSET|@TIMESTAMP_MS``."""

    name = "earliest|latest|OFFSET|@TIMESTAMP_MS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse a position, or fail with a usage error."""
        if isinstance(value, Position):
            return value
        text = str(value).strip().lower()
        if text in ("earliest", "latest"):
            return Position(text)
        number = text[1:] if text.startswith("@") else text
        if number.isdigit():
            return Position("timestamp" if text.startswith("@") else "offset", int(number))
        self.fail(f"expected earliest, latest, an offset or @TIMESTAMP_MS, got {value!r}")


POSITION = PositionType()
