"""Everything the command line prints, in one place.

Commands return data and :func:`render` turns it into output:

* ``None``: nothing;
* a :class:`Section` (or a list of them): each as a titled table;
* a mapping: a two-column table of names and values;
* a list of mappings (rows): a table whose columns are the rows' keys, in first-seen order;
* a :class:`Stream`: chunks of bytes written to stdout as they come (consumed records);
* anything else: its ``str``, as plain text.

:func:`data_command` declares a command whose function returns such data, and turns a Kafka
error into one line on stderr naming it (exit status 1). :func:`progress` draws the progress
bar of long runs on stderr, so that stdout keeps only results.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from client.errors import KafkaError

EXIT_KAFKA_ERROR = 1


@dataclass(frozen=True)
class Section:
    """A titled piece of a command's output (a mapping, rows, or text)."""

    title: str
    data: Any


@dataclass(frozen=True)
class Stream:
    """Output that arrives over time: each chunk is written to stdout and flushed."""

    chunks: Iterable[bytes]


def _is_rows(data: Any) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, (str, bytes))
        and all(isinstance(row, Mapping) for row in data)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return str(value)


def _text_cell(value: Any) -> Text:
    # names and values come from users and brokers: never read as markup
    return Text(_cell(value))


def _line(console: Console, text: str, style: str | None = None) -> None:
    # titles hold user-chosen names: never wrapped, never read as markup
    console.print(text, style=style, highlight=False, markup=False, soft_wrap=True)


def _table(data: Any) -> Table | None:
    if isinstance(data, Mapping):
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
        for key, value in data.items():
            table.add_row(Text(str(key)), _text_cell(value))
        return table
    if _is_rows(data) and data:
        table = Table()
        columns: list[str] = []
        for row in data:
            columns.extend(k for k in row if k not in columns)
        for column in columns:
            table.add_column(Text(column))
        for row in data:
            table.add_row(*(_text_cell(row.get(c)) for c in columns))
        return table
    return None


def _write_stream(stream: Stream, out: BinaryIO) -> None:
    for chunk in stream.chunks:
        out.write(chunk)
        out.flush()


def render(data: Any, console: Console | None = None) -> None:
    """Print a command's result (see the module docstring for the shapes understood)."""
    if data is None:
        return
    if isinstance(data, Stream):
        _write_stream(data, sys.stdout.buffer)
        return
    console = console or Console()
    sections = [data] if isinstance(data, Section) else data
    if isinstance(sections, list) and sections and all(isinstance(s, Section) for s in sections):
        for index, section in enumerate(sections):
            if index:
                console.print()
            table = _table(section.data)
            if table is None:
                _line(console, f"{section.title}: {_cell(section.data) or '(none)'}")
            else:
                _line(console, section.title, style="bold")
                console.print(table)
        return
    table = _table(data)
    if table is not None:
        console.print(table)
    else:
        _line(console, "(none)" if _is_rows(data) else str(data))


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "backslashreplace")


def record_line(record: Any, fmt: str, separator: bytes = b"\t") -> bytes:
    """One consumed record as a line of output.

    ``value``: the value's bytes as they are; ``kv``: key, ``separator``, value; ``json``: an
    object with topic, partition, offset, timestamp, key, value and headers (a list of
    [key, value] pairs), bytes shown as UTF-8 (other bytes as ``\\xNN``), null for none.
    """
    if fmt == "value":
        return (record.value or b"") + b"\n"
    if fmt == "kv":
        return (record.key or b"") + separator + (record.value or b"") + b"\n"
    if fmt == "json":
        obj = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": _text(record.key),
            "value": _text(record.value),
            "headers": [[k, _text(v)] for k, v in record.headers],
        }
        return json.dumps(obj, ensure_ascii=False).encode() + b"\n"
    raise ValueError(f"unknown record format {fmt!r}")


def error_line(exc: KafkaError) -> str:
    """One line naming a Kafka error and what it concerns."""
    return f"rillet: {exc.name}: {exc.message}" if exc.message else f"rillet: {exc.name}"


def fail(message: str, code: int = EXIT_KAFKA_ERROR) -> NoReturn:
    """Print ``rillet: message`` on stderr and exit with ``code``."""
    click.echo(f"rillet: {message}", err=True)
    sys.exit(code)


def data_command(
    group: click.Group | None, *args: Any, **kwargs: Any
) -> Callable[[Callable[..., Any]], click.Command]:
    """Like ``group.command(...)`` (``click.command(...)`` when ``group`` is None), for a
    function that returns data for :func:`render`.

    A KafkaError raised while the command runs or while its output is written becomes one
    line on stderr (exit status 1); Ctrl-C ends the command quietly (status 130).
    """

    def decorate(fn: Callable[..., Any]) -> click.Command:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> None:
            try:
                render(fn(*a, **kw))
            except KafkaError as exc:
                click.echo(error_line(exc), err=True)
                sys.exit(EXIT_KAFKA_ERROR)
            except KeyboardInterrupt:
                sys.exit(130)
            except BrokenPipeError:
                # the reader went away (`| head`): stop without a traceback
                sys.stderr.close()
                sys.exit(0)

        make = click.command if group is None else group.command
        return make(*args, **kwargs)(wrapper)

    return decorate


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` steps; yields ``advance(n)``."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = bar.add_task(description, total=total)
    with bar:
        yield lambda n: bar.advance(task, n)


def rate_line(records: int, size: int, seconds: float) -> str:
    """The summary of a timed run: records, bytes, seconds, records/s and MB/s."""
    seconds = max(seconds, 1e-9)
    return (
        f"{records} records, {size / 1e6:.2f} MB in {seconds:.2f} s: "
        f"{records / seconds:,.0f} records/s, {size / 1e6 / seconds:.2f} MB/s"
    )

