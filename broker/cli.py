"""The `rillet` command line: the root group, the broker's commands, the client's added.

Commands return data; `client.cli.render` turns it into output in one place. The client's
command groups (topic, produce, consume, group) live in `client.cli` and are added here, so
the dependency runs from the broker to the client only.

    rillet --version
    rillet broker start [--config FILE] [--set key=value]...
    rillet broker config-keys [--markdown]
    rillet dev cluster up [--dir D]   etcd and three brokers on this machine
    rillet topic|produce|consume|group ...   (see client.cli)
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click

from client.cli import COMMANDS
from client.cli.render import data_command

from broker.config import ConfigError, describe_keys, load_config, markdown_table

EXIT_CONFIG_ERROR = 2
EXIT_START_FAILED = 1


def _version() -> str:
    try:
        return version("rillet")
    except PackageNotFoundError:
        return "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="rillet")
def cli() -> None:
    """Rillet: a Kafka-compatible log broker."""


@cli.group()
def broker() -> None:
    """Run and inspect a broker."""


for _command in COMMANDS:
    cli.add_command(_command)


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
    # The etcd backend's HTTP client would log every request of the keep-alives and watches.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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


@cli.group()
def dev() -> None:
    """Helpers for trying Rillet out on one machine."""


@dev.group("cluster")
def dev_cluster() -> None:
    """A local three-broker cluster."""


@dev_cluster.command("up")
@click.option(
    "--dir", "workdir", type=click.Path(file_okay=False), default=".",
    help="Directory the brokers and etcd start in; their data goes under its data/.",
)
def dev_cluster_up(workdir: str) -> None:
    """Start etcd and brokers 1-3 (configs/cluster/), print their endpoints, stop on Ctrl-C."""
    from pathlib import Path

    from broker.dev_cluster import DevClusterError, run

    Path(workdir).mkdir(parents=True, exist_ok=True)
    try:
        run(Path(workdir), echo=click.echo)
    except (DevClusterError, ConfigError) as exc:
        _fail(EXIT_START_FAILED, str(exc))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `rillet` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="rillet")


if __name__ == "__main__":
    main()
