"""``rillet topic``: create, list, describe, alter and delete topics.

::

    rillet topic create events --partitions 6 --config retention.ms=86400000
    rillet topic list
    rillet topic describe events
    rillet topic alter events --partitions 12 --delete-config retention.ms
    rillet topic delete events
"""

from __future__ import annotations

from typing import Any

import click

from client.admin import ConfigEntry, OffsetSpec, TopicDescription
from client.cli.options import client_options, connection_options, parse_pairs
from client.cli.render import Section, data_command
from client.sync import Admin

# DescribeConfigs' config_source for a value set on the topic itself
DYNAMIC_TOPIC_CONFIG = 1


@click.group()
def topic() -> None:
    """Create, list, describe, alter and delete topics."""


def _admin(bootstrap: str, timeout: float) -> Admin:
    return Admin(**client_options(bootstrap, timeout))


@data_command(topic, "create")
@click.argument("name")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Number of partitions (default: the broker's num.partitions).")
@click.option("--replication-factor", type=click.IntRange(min=1), default=None,
              help="Replicas per partition (default: the broker's default.replication.factor).")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE",
              help="A topic config override; repeatable.")
@connection_options
def create(
    name: str,
    partitions: int | None,
    replication_factor: int | None,
    configs: tuple[str, ...],
    bootstrap: str,
    timeout: float,
) -> str:
    """Create topic NAME."""
    overrides = parse_pairs(configs, "--config")
    with _admin(bootstrap, timeout) as admin:
        admin.create_topic(
            name,
            num_partitions=-1 if partitions is None else partitions,
            replication_factor=-1 if replication_factor is None else replication_factor,
            configs=overrides,
        )
        described = admin.describe_topics([name])[name]
    count = len(described.partitions)
    return f"created topic {name} with {count} partition{'s' if count != 1 else ''}"


@data_command(topic, "list")
@click.option("--internal", is_flag=True, help="Include internal topics (__consumer_offsets).")
@connection_options
def list_(internal: bool, bootstrap: str, timeout: float) -> list[dict[str, Any]]:
    """List topics with their partition counts and replication factors."""
    with _admin(bootstrap, timeout) as admin:
        names = admin.list_topics(include_internal=internal)
        described = admin.describe_topics(names) if names else {}
    return [
        {
            "topic": name,
            "partitions": len(described[name].partitions),
            "replication factor": _replication_factor(described[name]),
        }
        for name in names
    ]


def _replication_factor(description: TopicDescription) -> int:
    return max((len(p.replicas) for p in description.partitions), default=0)


def _leader_sizes(admin: Admin, description: TopicDescription) -> dict[int, int]:
    """Bytes of each partition's log on its leader (absent where the leader did not say)."""
    leaders = sorted({p.leader for p in description.partitions if p.leader >= 0})
    dirs = admin.describe_log_dirs(leaders) if leaders else {}
    sizes: dict[int, int] = {}
    for p in description.partitions:
        for replicas in dirs.get(p.leader, {}).values():
            info = replicas.get((description.name, p.partition))
            if info is not None and not info.is_future:
                sizes[p.partition] = info.size
    return sizes


def _overrides(entries: dict[str, ConfigEntry]) -> dict[str, str | None]:
    return {
        name: ("(sensitive)" if entry.is_sensitive else entry.value)
        for name, entry in sorted(entries.items())
        if entry.source == DYNAMIC_TOPIC_CONFIG or (entry.source < 0 and not entry.is_default)
    }


@data_command(topic, "describe")
@click.argument("name")
@connection_options
def describe(name: str, bootstrap: str, timeout: float) -> list[Section]:
    """Show a topic's partitions (leader, replicas, ISR, log size, offsets) and config
    overrides."""
    with _admin(bootstrap, timeout) as admin:
        description = admin.describe_topics([name])[name]
        tps = [(name, p.partition) for p in description.partitions]
        earliest = admin.list_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
        latest = admin.list_offsets({tp: OffsetSpec.LATEST for tp in tps})
        sizes = _leader_sizes(admin, description)
        configs = admin.describe_configs("topic", name)
    rows = [
        {
            "partition": p.partition,
            "leader": p.leader if p.leader >= 0 else None,
            "replicas": p.replicas,
            "isr": p.isr,
            "log size": sizes.get(p.partition),
            "earliest offset": earliest[(name, p.partition)].offset,
            "latest offset": latest[(name, p.partition)].offset,
        }
        for p in description.partitions
    ]
    summary = {
        "partitions": len(description.partitions),
        "replication factor": _replication_factor(description),
        "internal": "yes" if description.is_internal else "no",
    }
    overrides = _overrides(configs)
    return [
        Section(f"Topic {name}", summary),
        Section("Partitions", rows),
        Section("Config overrides", overrides or "(none)"),
    ]


@data_command(topic, "alter")
@click.argument("name")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="Grow the topic to this many partitions.")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE",
              help="Set a topic config override; repeatable.")
@click.option("--delete-config", "deleted", multiple=True, metavar="KEY",
              help="Remove a topic config override (back to the default); repeatable.")
@connection_options
def alter(
    name: str,
    partitions: int | None,
    configs: tuple[str, ...],
    deleted: tuple[str, ...],
    bootstrap: str,
    timeout: float,
) -> str:
    """Add partitions to topic NAME or change its config overrides."""
    changes: dict[str, str | None] = dict(parse_pairs(configs, "--config"))
    changes.update({key: None for key in deleted})
    if partitions is None and not changes:
        raise click.UsageError("nothing to alter: give --partitions, --config or --delete-config")
    done = []
    with _admin(bootstrap, timeout) as admin:
        if partitions is not None:
            admin.create_partitions({name: partitions})
            done.append(f"{partitions} partitions")
        if changes:
            admin.alter_configs("topic", name, changes)
            done.extend(f"{k}={v}" if v is not None else f"{k} deleted" for k, v in changes.items())
    return f"altered topic {name}: {', '.join(done)}"


@data_command(topic, "delete")
@click.argument("name")
@connection_options
def delete(name: str, bootstrap: str, timeout: float) -> str:
    """Delete topic NAME and all its records."""
    with _admin(bootstrap, timeout) as admin:
        admin.delete_topics([name])
    return f"deleted topic {name}"
