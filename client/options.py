"""Client options: names, defaults and checks, in one table per client kind.

Options are the keyword arguments of ``Producer``, ``Consumer`` and ``Admin``, named as in
kafka-python and aiokafka (``linger_ms``, ``batch_size``, ...). :func:`validate_options`
returns every option with its default filled in and its value normalized, and raises a
``TypeError`` naming any option it does not know (with the closest known name as a
suggestion) or a ``ValueError`` naming the option whose value is wrong.

``COMMON_OPTIONS`` holds what every client shares (connection, retries, metadata); each
client adds its own (``PRODUCER_OPTIONS``, ``ADMIN_OPTIONS``; the consumer defines its table
the same way, starting from ``COMMON_OPTIONS``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from client.records import Compression

__all__ = [
    "Option",
    "COMMON_OPTIONS",
    "PRODUCER_OPTIONS",
    "ADMIN_OPTIONS",
    "validate_options",
    "integer",
    "boolean",
    "optional",
    "string",
    "function",
    "choice",
    "normalize_acks",
    "normalize_compression",
]

Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One option: its default and the check that validates and normalizes a value."""

    default: Any
    check: Check
    doc: str


def integer(low: int | None = None, high: int | None = None) -> Check:
    """A check for an int in [low, high] (bools are refused)."""

    def check(value: Any) -> int:
        if type(value) is bool or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        if low is not None and value < low:
            raise ValueError(f"must be at least {low}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return check


def boolean(value: Any) -> bool:
    """A check for True/False."""
    if type(value) is not bool:
        raise TypeError(f"expected True or False, got {value!r}")
    return value


def string(value: Any) -> str:
    """A check for a str."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def function(value: Any) -> Callable[..., Any]:
    """A check for a callable."""
    if not callable(value):
        raise TypeError(f"expected a callable, got {type(value).__name__}")
    return value


def optional(inner: Check) -> Check:
    """``inner``, or None."""

    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def choice(*allowed: Any) -> Check:
    """One of ``allowed``."""

    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(repr, allowed))}")
        return value

    return check


def normalize_acks(value: Any) -> int:
    """``"all"``/-1 -> -1, 0 -> 0, 1 -> 1 (strings of those numbers too)."""
    table = {"all": -1, -1: -1, "-1": -1, 0: 0, "0": 0, 1: 1, "1": 1}
    if type(value) is bool or value not in table:
        raise ValueError("must be 0, 1, -1 or 'all'")
    return table[value]


_CODECS = {
    None: Compression.NONE,
    "none": Compression.NONE,
    "gzip": Compression.GZIP,
    "snappy": Compression.SNAPPY,
    "lz4": Compression.LZ4,
    "zstd": Compression.ZSTD,
}


def normalize_compression(value: Any) -> Compression:
    """None/'none'/'gzip'/'snappy'/'lz4'/'zstd' -> Compression."""
    key = value.lower() if isinstance(value, str) else value
    if key not in _CODECS:
        raise ValueError("must be None, 'none', 'gzip', 'snappy', 'lz4' or 'zstd'")
    return _CODECS[key]


COMMON_OPTIONS: dict[str, Option] = {
    "client_id": Option("rillet-python", optional(string), "name sent with every request"),
    "request_timeout_ms": Option(30_000, integer(1), "how long to wait for any response"),
    "retry_backoff_ms": Option(100, integer(0), "first retry delay (then doubled, jittered)"),
    "retry_backoff_max_ms": Option(1_000, integer(0), "largest retry delay"),
    "metadata_max_age_ms": Option(300_000, integer(0), "refresh metadata at least this often"),
    "max_in_flight_requests_per_connection": Option(
        5, integer(1), "requests sent before their responses arrive, per connection"
    ),
    "socket_connection_setup_timeout_ms": Option(
        10_000, integer(1), "how long a TCP connect plus ApiVersions may take"
    ),
}

PRODUCER_OPTIONS: dict[str, Option] = {
    **COMMON_OPTIONS,
    "acks": Option("all", normalize_acks, "0, 1 or 'all' (-1): which replicas must have it"),
    "compression_type": Option(None, normalize_compression, "batch codec"),
    "batch_size": Option(65_536, integer(1), "bytes per partition batch before it is sent"),
    "linger_ms": Option(5, integer(0), "how long a batch waits for more records"),
    "buffer_memory": Option(33_554_432, integer(1), "bytes buffered before send() waits"),
    "max_block_ms": Option(60_000, integer(0), "how long send() waits for buffer space"),
    "max_request_size": Option(1_048_576, integer(1), "largest produce request in bytes"),
    "enable_idempotence": Option(
        None, optional(boolean), "exactly-once per partition (default on unless acks != all)"
    ),
    "delivery_timeout_ms": Option(
        120_000, integer(1), "time to deliver a record, retries included"
    ),
    "retries": Option(None, optional(integer(0)), "resend limit (default: until delivery timeout)"),
    "key_serializer": Option(None, optional(function), "turns keys into bytes"),
    "value_serializer": Option(None, optional(function), "turns values into bytes"),
    "partitioner": Option(
        None, optional(function), "partitioner(key_bytes, all_partitions, available) -> int"
    ),
    "allow_auto_create_topics": Option(True, boolean, "let Metadata create missing topics"),
}

ADMIN_OPTIONS: dict[str, Option] = dict(COMMON_OPTIONS)


def validate_options(
    kind: str, spec: Mapping[str, Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every option of ``spec`` (defaults filled in, values checked and normalized).

    ``kind`` names the client in messages ("Producer"). Unknown names raise TypeError naming
    them; bad values raise ValueError/TypeError naming the option.
    """
    unknown = sorted(set(given) - set(spec))
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(spec), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(f"{kind}() got unknown option(s): {', '.join(hints)}")
    out: dict[str, Any] = {}
    for name, option in spec.items():
        value = given.get(name, option.default)
        try:
            out[name] = option.check(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{kind} option {name}={value!r}: {exc}") from None
    return out
