"""``rillet group``: list, describe, reset the offsets of and delete consumer groups.

::

    rillet group list
    rillet group describe billing
    rillet group reset-offsets billing --topic events --to earliest            # plan only
    rillet group reset-offsets billing --topic events --to @1700000000000 --execute
    rillet group delete billing

``describe`` shows the members (client id, host, assigned partitions, read from the consumer
protocol's assignment bytes) and, per partition with a commit or an owner, the committed
offset, the end offset and the lag between them. ``reset-offsets`` moves committed offsets of
a group that has no active members; without ``--execute`` it only prints the plan.
"""

from __future__ import annotations

from typing import Any

import click

from client.admin import GroupDescription, GroupMember, ListedOffset, OffsetSpec
from client.cli.options import POSITION, Position, client_options, connection_options
from client.cli.render import Section, data_command, fail
from client.errors import error_for
from client.protocol import ErrorCode
from client.sync import Admin

CONSUMER_PROTOCOL = "consumer"
# States in which nobody consumes, so offsets may be moved (Dead: the group does not exist)
INACTIVE_STATES = ("Empty", "Dead")


@click.group()
def group() -> None:
    """List, describe, reset the offsets of and delete consumer groups."""


def _admin(bootstrap: str, timeout: float) -> Admin:
    return Admin(**client_options(bootstrap, timeout))


def assigned_partitions(member: GroupMember, protocol_type: str) -> list[tuple[str, int]]:
    """The (topic, partition) pairs in a consumer group member's assignment; none for other
    protocol types or an assignment that does not decode."""
    if protocol_type != CONSUMER_PROTOCOL or not member.assignment:
        return []
    from client.consumer.formats import FormatError, decode_assignment

    try:
        assignment = decode_assignment(member.assignment)
    except FormatError:
        return []
    return sorted((tp.topic, tp.partition) for tp in assignment.partitions)


@data_command(group, "list")
@connection_options
def list_(bootstrap: str, timeout: float) -> list[dict[str, Any]]:
    """List the cluster's groups with their state and member count."""
    with _admin(bootstrap, timeout) as admin:
        listings = admin.list_groups()
        described = admin.describe_groups([g.group_id for g in listings]) if listings else {}
    return [
        {
            "group": g.group_id,
            "protocol type": g.protocol_type or None,
            "state": described[g.group_id].state,
            "members": len(described[g.group_id].members),
        }
        for g in listings
    ]


def _describe(admin: Admin, group_id: str) -> GroupDescription:
    return admin.describe_groups([group_id])[group_id]


def _existing(admin: Admin, group_id: str) -> tuple[GroupDescription, dict[tuple[str, int], int]]:
    """The group's description and committed offsets; GroupIdNotFoundError when it has
    neither members nor offsets (the coordinator calls such a group Dead)."""
    description = _describe(admin, group_id)
    committed = admin.list_group_offsets(group_id)
    if description.state == "Dead" and not committed:
        raise error_for(ErrorCode.GROUP_ID_NOT_FOUND, f"group {group_id!r} does not exist")
    return description, committed


@data_command(group, "describe")
@click.argument("group_id", metavar="GROUP")
@connection_options
def describe(group_id: str, bootstrap: str, timeout: float) -> list[Section]:
    """Show GROUP's state, members and, per partition, committed offset, end offset and lag."""
    with _admin(bootstrap, timeout) as admin:
        description, committed = _existing(admin, group_id)
        owners: dict[tuple[str, int], GroupMember] = {}
        members = []
        for member in description.members:
            tps = assigned_partitions(member, description.protocol_type)
            owners.update((tp, member) for tp in tps)
            members.append({
                "member": member.member_id,
                "client id": member.client_id,
                "host": member.client_host,
                "partitions": [f"{t}-{p}" for t, p in tps],
            })
        partitions = sorted(set(committed) | set(owners))
        ends = admin.list_offsets({tp: OffsetSpec.LATEST for tp in partitions})
    rows = []
    for tp in partitions:
        owner = owners.get(tp)
        end = ends[tp].offset
        offset = committed.get(tp)
        rows.append({
            "topic": tp[0],
            "partition": tp[1],
            "committed offset": offset,
            "end offset": end,
            "lag": None if offset is None else max(end - offset, 0),
            "member": owner.member_id if owner else None,
            "client id": owner.client_id if owner else None,
            "host": owner.client_host if owner else None,
        })
    summary = {
        "state": description.state,
        "protocol type": description.protocol_type or None,
        "assignor": description.protocol or None,
        "coordinator": description.coordinator,
        "members": len(description.members),
    }
    return [
        Section(f"Group {group_id}", summary),
        Section("Members", members or "(none)"),
        Section("Offsets", rows or "(none)"),
    ]


def _targets(
    admin: Admin, tps: list[tuple[str, int]], to: Position
) -> dict[tuple[str, int], int]:
    """The offset each partition moves to; offsets are kept within [earliest, latest] and a
    timestamp after the last record moves to the end, as Kafka's tools do."""
    earliest = admin.list_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
    latest = admin.list_offsets({tp: OffsetSpec.LATEST for tp in tps})
    if to.kind == "earliest":
        return {tp: earliest[tp].offset for tp in tps}
    if to.kind == "latest":
        return {tp: latest[tp].offset for tp in tps}
    if to.kind == "offset":
        return {tp: min(max(to.value, earliest[tp].offset), latest[tp].offset) for tp in tps}
    found: dict[tuple[str, int], ListedOffset] = admin.list_offsets(
        {tp: to.value for tp in tps}
    )
    return {
        tp: found[tp].offset if found[tp].offset >= 0 else latest[tp].offset for tp in tps
    }


@data_command(group, "reset-offsets")
@click.argument("group_id", metavar="GROUP")
@click.option("--topic", required=True, help="The topic whose committed offsets move.")
@click.option("--partition", "partitions", type=click.IntRange(min=0), multiple=True,
              help="Only this partition; repeatable (default: all).")
@click.option("--to", "to", type=POSITION, required=True,
              help="earliest, latest, an offset or @TIMESTAMP_MS.")
@click.option("--execute", is_flag=True, help="Apply the plan (without it, only print it).")
@connection_options
def reset_offsets(
    group_id: str,
    topic: str,
    partitions: tuple[int, ...],
    to: Position,
    execute: bool,
    bootstrap: str,
    timeout: float,
) -> list[Section]:
    """Move GROUP's committed offsets on --topic; the group must have no active members."""
    with _admin(bootstrap, timeout) as admin:
        state = _describe(admin, group_id).state
        if state not in INACTIVE_STATES:
            fail(
                f"group {group_id} is {state}: offsets can only be reset while it has no "
                "active members (stop its consumers first)"
            )
        known = [p.partition for p in admin.describe_topics([topic])[topic].partitions]
        missing = sorted(set(partitions) - set(known))
        if missing:
            raise click.UsageError(f"topic {topic} has no partition {missing[0]}")
        tps = [(topic, p) for p in (sorted(partitions) if partitions else known)]
        current = admin.list_group_offsets(group_id, tps)
        targets = _targets(admin, tps, to)
        if execute:
            admin.alter_group_offsets(group_id, targets)
    rows = [
        {
            "topic": tp[0],
            "partition": tp[1],
            "current offset": current.get(tp),
            "new offset": targets[tp],
        }
        for tp in tps
    ]
    if execute:
        outcome = f"reset {len(rows)} partition{'s' if len(rows) != 1 else ''} to {to}"
    else:
        outcome = "dry run: nothing changed (add --execute to apply)"
    return [Section(f"Group {group_id}, topic {topic}", rows), Section("Result", outcome)]


@data_command(group, "delete")
@click.argument("group_id", metavar="GROUP")
@connection_options
def delete(group_id: str, bootstrap: str, timeout: float) -> str:
    """Delete GROUP and its committed offsets (it must have no active members)."""
    with _admin(bootstrap, timeout) as admin:
        admin.delete_groups([group_id])
    return f"deleted group {group_id}"
