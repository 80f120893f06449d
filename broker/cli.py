"""The `rillet` command line: a click group that other modules add commands to.

Commands return data; `render` turns it into output in one place (rich tables for lists of
rows and for mappings, plain text otherwise). To add commands from another module, list the
module in COMMAND_MODULES and, in it, decorate functions with `@cli.command()` /
`@cli.group()` (or `@data_command(group)` for one that returns data to render); `main` imports
those modules before parsing arguments.

    rillet --version
    rillet broker start [--config FILE] [--set key=value]...
    rillet broker config-keys
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from broker.config import ConfigError, describe_keys, load_config, markdown_table

# Modules that register further commands on `cli` when imported (missing ones are skipped).
COMMAND_MODULES: tuple[str, ...] = ("client.cli",)

EXIT_CONFIG_ERROR = 2
EXIT_START_FAILED = 1


def _version() -> str:
    try:
        return version("rillet")
    except PackageNotFoundError:
        return "0+unknown"


def render(data: Any, console: Console | None = None) -> None:
    """Print a command's result: rows (list of mappings) or a mapping as a table, else text."""
    console = console or Console()
    if data is None:
        return
    if isinstance(data, Mapping):
        table = Table(show_header=False, box=None)
        for key, value in data.items():
            table.add_row(str(key), str(value))
        console.print(table)
    elif isinstance(data, Sequence) and not isinstance(data, str) and all(
        isinstance(row, Mapping) for row in data
    ):
        table = Table()
        columns: list[str] = []
        for row in data:
            columns.extend(k for k in row if k not in columns)
        for column in columns:
            table.add_column(column)
        for row in data:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        console.print(table)
    else:
        console.print(str(data), highlight=False, markup=False)


def data_command(
    group: click.Group, *args: Any, **kwargs: Any
) -> Callable[[Callable[..., Any]], click.Command]:
    """Like `group.command(...)`, for a function that returns data for `render`."""

    def decorate(fn: Callable[..., Any]) -> click.Command:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> None:
            render(fn(*a, **kw))

        return group.command(*args, **kwargs)(wrapper)

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="rillet")
def cli() -> None:
    """Rillet: a Kafka-compatible log broker."""


@cli.group()
def broker() -> None:
    """Run and inspect a broker."""


def _fail(code: int, message: str) -> None:
    click.echo(f"rillet: {message}", err=True)
    sys.exit(code)


@broker.command("start")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML file of Kafka-named settings (defaults apply to anything not set).",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override one setting; repeatable; applied after the file.",
)
def start(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Start a broker in the foreground; SIGTERM or Ctrl-C stops it cleanly."""
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        _fail(EXIT_CONFIG_ERROR, str(exc))
        return
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    import trio

    from broker.server.runner import find_api_setup, run_broker

    try:
        trio.run(functools.partial(run_broker, config, api_setup=find_api_setup()))
    except* ConfigError as group:
        _fail(EXIT_CONFIG_ERROR, str(_first_leaf(group)))
    except* OSError as group:
        _fail(EXIT_START_FAILED, f"cannot start: {_first_leaf(group)}")


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first exception that is not itself a group (nurseries nest groups)."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


@data_command(broker, "config-keys")
@click.option("--markdown", is_flag=True, help="Print the README's Markdown table instead.")
def config_keys(markdown: bool) -> list[dict[str, str]] | str:
    """List every configuration key with its type, default and meaning."""
    if markdown:
        return markdown_table().rstrip("\n")
    return [info._asdict() for info in describe_keys()]


def _load_command_modules() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `rillet` console script."""
    _load_command_modules()
    cli.main(args=list(argv) if argv is not None else None, prog_name="rillet")


if __name__ == "__main__":
    main()
