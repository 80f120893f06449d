"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and the broker.

A topic's config is the broker's defaults with the topic's overrides (kept in its metadata
record).  On the broker resource the keys that are topic defaults (``log.retention.ms``,
``log.segment.bytes``, ``min.insync.replicas``, …) may be changed at run time: they are kept
in the metadata store under ``configs/broker`` and apply to every topic without an override of
its own, on every broker of a cluster (each follows the key).  Other broker keys are read-only
here; they come from the config file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import trio

from client.protocol import ErrorCode, RequestHeader

from broker.api.state import BrokerState, state_of
from broker.config import BrokerConfig, describe_keys, unlimited_as_max
from broker.metadata.controller import TopicError, validate_configs
from broker.metadata.store import MetadataError, MetadataStore
from broker.server.context import RequestContext
from broker.storage.config import LogConfig

log = logging.getLogger("rillet.configs")

Body = dict[str, Any]
FOLLOW_RETRY_S = 0.5
TOPIC = 2
BROKER = 4
BROKER_CONFIGS_KEY = "configs/broker"

# config_source values of DescribeConfigs v1+
DYNAMIC_TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
# Keys whose values are comma-separated lists: the only ones APPEND and SUBTRACT apply to.
LIST_KEYS = frozenset({"cleanup.policy", "log.cleanup.policy"})

# Broker keys that are topic defaults, and the topic key each one sets.
DYNAMIC_BROKER_KEYS = {
    "log.segment.bytes": "segment.bytes",
    "log.segment.ms": "segment.ms",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.retention.ms": "retention.ms",
    "log.retention.bytes": "retention.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.cleanup.policy": "cleanup.policy",
    "message.max.bytes": "max.message.bytes",
    "min.insync.replicas": "min.insync.replicas",
    "write.caching": "write.caching",
}


class ConfigRequestError(Exception):
    """A config change that cannot be made, with its Kafka error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _entry(name: str, value: str, source: int, version: int, read_only: bool = False) -> Body:
    entry: Body = {
        "name": name,
        "value": value,
        "read_only": read_only,
        "is_sensitive": False,
        "synonyms": [],
        "config_source": source,
    }
    if version == 0:
        entry["is_default"] = source == DEFAULT_CONFIG
    return entry


def _broker_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


async def stored_broker_overrides_from(store: MetadataStore) -> tuple[dict[str, str], int]:
    """The dynamic broker configs and their store version."""
    stored = await store.get(BROKER_CONFIGS_KEY)
    if stored is None:
        return {}, 0
    return dict(stored.value["configs"]), stored.version


async def stored_broker_overrides(state: BrokerState) -> tuple[dict[str, str], int]:
    """The dynamic broker configs and their store version."""
    return await stored_broker_overrides_from(state.controller.store)


def topic_defaults_with(config: BrokerConfig, broker_overrides: Mapping[str, str]) -> LogConfig:
    """The broker's static topic defaults with dynamic broker overrides applied."""
    static = LogConfig.from_properties(config.topic_defaults())
    overrides = {}
    for key, value in broker_overrides.items():
        if key.startswith("log.flush.interval.") and value.strip() == "-1":
            value = str(unlimited_as_max(-1))
        overrides[DYNAMIC_BROKER_KEYS[key]] = value
    return static.with_overrides(overrides)


async def apply_broker_overrides(state: BrokerState, overrides: Mapping[str, str]) -> None:
    """Make dynamic broker configs take effect on every hosted topic."""
    defaults = topic_defaults_with(state.config, overrides)
    state.replicas.topic_defaults = defaults
    state.controller.topic_defaults = defaults
    for record in list(state.replicas.topics.values()):
        state.replicas.update_topic_config(record)


async def follow_broker_overrides(
    state: BrokerState,
    applied: int,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Apply the stored dynamic broker configs whenever they change (cluster mode).

    They are cluster-wide: any broker stores them on an AlterConfigs, and every broker then
    applies them to the partitions it hosts.  ``applied`` is the store version already applied.
    """
    store = state.controller.store
    started = False
    while True:
        try:
            async with store.watch(BROKER_CONFIGS_KEY) as changes:
                overrides, version = await stored_broker_overrides_from(store)
                if version != applied:
                    await apply_broker_overrides(state, overrides)
                    applied = version
                if not started:
                    started = True
                    task_status.started()
                async for change in changes:
                    if change.key != BROKER_CONFIGS_KEY or change.version <= applied:
                        continue
                    configs = dict(change.value["configs"]) if change.value is not None else {}
                    await apply_broker_overrides(state, configs)
                    applied = change.version
            raise MetadataError("the broker config watch ended")
        except MetadataError as exc:
            log.warning("following dynamic broker configs: %s; reading them again", exc)
        await trio.sleep(FOLLOW_RETRY_S)


async def describe_topic(state: BrokerState, name: str, keys: list[str] | None,
                         version: int) -> list[Body]:  # fmt: skip
    """Every (or each named) config of a topic with its source."""
    record = state.replicas.topics.get(name)
    if record is None:
        raise ConfigRequestError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
        )
    effective = state.replicas.topic_config(record).to_properties()
    broker_overrides, _ = await stored_broker_overrides(state)
    dynamic_defaults = {DYNAMIC_BROKER_KEYS[k] for k in broker_overrides}
    entries = []
    for key, value in sorted(effective.items()):
        if keys is not None and key not in keys:
            continue
        if key in record.configs:
            source = DYNAMIC_TOPIC_CONFIG
        elif key in dynamic_defaults:
            source = DYNAMIC_BROKER_CONFIG
        else:
            source = DEFAULT_CONFIG
        entries.append(_entry(key, value, source, version))
    return entries


async def describe_broker(state: BrokerState, keys: list[str] | None,
                          version: int) -> list[Body]:  # fmt: skip
    """Every (or each named) broker config; topic-default keys show dynamic values."""
    overrides, _ = await stored_broker_overrides(state)
    entries = []
    for key_info in describe_keys():
        key = key_info.name
        if keys is not None and key not in keys:
            continue
        if key in overrides:
            entries.append(_entry(key, overrides[key], DYNAMIC_BROKER_CONFIG, version))
            continue
        value = _broker_value(state.config.get(key))
        entries.append(
            _entry(key, value, STATIC_BROKER_CONFIG, version,
                   read_only=key not in DYNAMIC_BROKER_KEYS)  # fmt: skip
        )
    return entries


def _check_broker_name(state: BrokerState, name: str) -> None:
    if name not in ("", str(state.node_id)):
        raise ConfigRequestError(ErrorCode.INVALID_REQUEST, f"this is broker {state.node_id}, not {name!r}")


async def handle_describe_configs(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """Configs of topics and of this broker."""
    state = state_of(ctx)
    results = []
    for resource in body["resources"]:
        kind, name = resource["resource_type"], resource["resource_name"]
        keys = resource.get("configuration_keys")
        result: Body = {"error_code": ErrorCode.NONE, "error_message": None,
                        "resource_type": kind, "resource_name": name, "configs": []}  # fmt: skip
        try:
            if kind == TOPIC:
                result["configs"] = await describe_topic(state, name, keys, header.api_version)
            elif kind == BROKER:
                _check_broker_name(state, name)
                result["configs"] = await describe_broker(state, keys, header.api_version)
            else:
                raise ConfigRequestError(ErrorCode.INVALID_REQUEST, f"resource type {kind} is not supported")
        except ConfigRequestError as exc:
            result.update(error_code=exc.code, error_message=str(exc))
        results.append(result)
    return {"throttle_time_ms": 0, "results": results}


def _apply_operation(current: dict[str, str], name: str, op: int, value: str | None,
                     inherited: str | None) -> None:  # fmt: skip
    """Apply one incremental change to ``current`` (the overrides).

    APPEND and SUBTRACT work on the value in force: the override, or else ``inherited``
    (what the key has without one), as DescribeConfigs shows it.
    """
    if op == SET:
        if value is None:
            raise ConfigRequestError(ErrorCode.INVALID_CONFIG, f"{name}: SET needs a value")
        current[name] = value
    elif op == DELETE:
        current.pop(name, None)
    elif op in (APPEND, SUBTRACT):
        if name not in LIST_KEYS:
            raise ConfigRequestError(
                ErrorCode.INVALID_CONFIG, f"{name} is not a list: APPEND and SUBTRACT do not apply"
            )
        items = [v for v in current.get(name, inherited or "").split(",") if v]
        given = [v for v in (value or "").split(",") if v]
        if op == APPEND:
            items += [v for v in given if v not in items]
        else:
            items = [v for v in items if v not in given]
        current[name] = ",".join(items)
    else:
        raise ConfigRequestError(ErrorCode.INVALID_REQUEST, f"{name}: unknown operation {op}")


async def _alter(state: BrokerState, kind: int, name: str, changes: list[Body],
                 incremental: bool, validate_only: bool) -> None:  # fmt: skip
    if kind == TOPIC:
        record = state.replicas.topics.get(name)
        if record is None:
            raise ConfigRequestError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist")
        configs = dict(record.configs) if incremental else {}
        inherited = state.replicas.topic_defaults.to_properties()
        for change in changes:
            if incremental:
                key = change["name"]
                _apply_operation(configs, key, change["config_operation"], change["value"],
                                 inherited.get(key))  # fmt: skip
            elif change["value"] is not None:
                configs[change["name"]] = change["value"]
        try:
            updated = await state.controller.alter_configs(name, configs, validate_only)
        except TopicError as exc:
            raise ConfigRequestError(exc.code, str(exc)) from None
        if not validate_only:
            state.replicas.update_topic_config(updated)
        return
    if kind != BROKER:
        raise ConfigRequestError(ErrorCode.INVALID_REQUEST, f"resource type {kind} is not supported")
    _check_broker_name(state, name)
    while True:
        stored, version = await stored_broker_overrides(state)
        configs = dict(stored) if incremental else {}
        for change in changes:
            key = change["name"]
            if key not in DYNAMIC_BROKER_KEYS:
                raise ConfigRequestError(
                    ErrorCode.INVALID_CONFIG,
                    f"{key} cannot be changed at run time (set it in the config file)",
                )
            if incremental:
                _apply_operation(configs, key, change["config_operation"], change["value"],
                                 _broker_value(state.config.get(key)))  # fmt: skip
            elif change["value"] is not None:
                configs[key] = change["value"]
        try:
            topic_defaults_with(state.config, configs)
        except ValueError as exc:
            raise ConfigRequestError(ErrorCode.INVALID_CONFIG, str(exc)) from None
        if validate_only:
            return
        store = state.controller.store
        if await store.compare_and_set(BROKER_CONFIGS_KEY, version, {"configs": configs}):
            await apply_broker_overrides(state, configs)
            return


async def _handle_alter(ctx: RequestContext, body: Body, incremental: bool) -> Body:
    state = state_of(ctx)
    responses = []
    for resource in body["resources"]:
        kind, name = resource["resource_type"], resource["resource_name"]
        response: Body = {"error_code": ErrorCode.NONE, "error_message": None,
                          "resource_type": kind, "resource_name": name}  # fmt: skip
        try:
            await _alter(state, kind, name, resource["configs"], incremental,
                         body.get("validate_only", False))  # fmt: skip
        except ConfigRequestError as exc:
            response.update(error_code=exc.code, error_message=str(exc))
        responses.append(response)
    return {"throttle_time_ms": 0, "responses": responses}


async def handle_alter_configs(ctx: RequestContext, header: RequestHeader, body: Body) -> Body:
    """Replace the whole override set of each resource."""
    return await _handle_alter(ctx, body, incremental=False)


async def handle_incremental_alter_configs(
    ctx: RequestContext, header: RequestHeader, body: Body
) -> Body:
    """Set, delete, append to or subtract from single configs of each resource."""
    return await _handle_alter(ctx, body, incremental=True)


def validate_topic_overrides(defaults: LogConfig, configs: Mapping[str, str]) -> None:
    """Raise ConfigRequestError(INVALID_CONFIG) for overrides the log config refuses."""
    try:
        validate_configs(defaults, configs)
    except TopicError as exc:
        raise ConfigRequestError(exc.code, str(exc)) from None
