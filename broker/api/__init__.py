"""The Kafka APIs of a broker: one handler module per API family, wired up by ``setup``.

``setup`` opens the logs under ``log.dirs`` (recovering after a crash), hosts every topic the
metadata store knows, registers the handlers, starts the timers (retention, flush policy,
checkpoints) and group commit, and adds the shutdown hooks that stop the follower fetchers and
close the logs cleanly.  In cluster mode (an etcd store) the topics are hosted by a watch that
follows the store, and the broker joins the cluster (``broker.api.cluster``); the group
coordinator follows the leadership of ``__consumer_offsets`` partitions either way.
"""

from __future__ import annotations

import logging
import time

import trio

from client.protocol import ApiKey

from broker.api import configs, fetch, groups, metadata, offsets, producers, produce, topics
from broker.api.cluster import is_cluster_store, start_cluster
from broker.api.log_dirs import handle_describe_log_dirs
from broker.api.state import STATE_KEY, BrokerState
from broker.coordinator.config import CoordinatorConfig
from broker.coordinator.hosting import GroupCoordinators
from broker.metadata.controller import Controller
from broker.metadata.producer_ids import ProducerIdAllocator
from broker.metadata.records import list_partitions, list_topics
from broker.replication.manager import ReplicaManager
from broker.server.kafka import HandlerRegistry
from broker.storage.cleaner import Cleaner
from broker.storage.log import prepare_flushes, run_flushes
from broker.storage.manager import LogManager

log = logging.getLogger("rillet.broker")

CHECKPOINT_INTERVAL_S = 60.0
FLUSH_CHECK_INTERVAL_S = 1.0

HANDLERS = {
    ApiKey.METADATA: metadata.handle_metadata,
    ApiKey.DESCRIBE_CLUSTER: metadata.handle_describe_cluster,
    ApiKey.PRODUCE: produce.handle_produce,
    ApiKey.FETCH: fetch.handle_fetch,
    ApiKey.LIST_OFFSETS: offsets.handle_list_offsets,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: offsets.handle_offset_for_leader_epoch,
    ApiKey.DELETE_RECORDS: offsets.handle_delete_records,
    ApiKey.INIT_PRODUCER_ID: producers.handle_init_producer_id,
    ApiKey.CREATE_TOPICS: topics.handle_create_topics,
    ApiKey.DELETE_TOPICS: topics.handle_delete_topics,
    ApiKey.CREATE_PARTITIONS: topics.handle_create_partitions,
    ApiKey.DESCRIBE_CONFIGS: configs.handle_describe_configs,
    ApiKey.ALTER_CONFIGS: configs.handle_alter_configs,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: configs.handle_incremental_alter_configs,
    ApiKey.DESCRIBE_LOG_DIRS: handle_describe_log_dirs,
}


async def setup(registry: HandlerRegistry, services: object) -> None:
    """Open storage, host the stored topics, register handlers, start background work."""
    config = services.config  # type: ignore[attr-defined]
    store = services.metadata  # type: ignore[attr-defined]
    started = time.monotonic()
    broker_overrides, overrides_version = await configs.stored_broker_overrides_from(store)
    defaults = configs.topic_defaults_with(config, broker_overrides)
    logs = await trio.to_thread.run_sync(
        lambda: LogManager(
            list(config.log_dirs),
            defaults,
            broker_id=config.node_id,
            cluster_id=services.cluster_id,  # type: ignore[attr-defined]
        )
    )
    services.add_shutdown_hook(lambda: _close_logs(logs))  # type: ignore[attr-defined]
    metrics = services.metrics  # type: ignore[attr-defined]
    replicas = ReplicaManager(config.node_id, logs, defaults, metrics.log)
    metrics.replicas.watch(replicas.health)
    controller = Controller(
        store,
        config.node_id,
        defaults,
        config.num_partitions,
        config.default_replication_factor,
    )
    state = BrokerState(config, services, replicas, controller, ProducerIdAllocator(store), metrics)
    services.extras[STATE_KEY] = state  # type: ignore[attr-defined]
    nursery = services.nursery  # type: ignore[attr-defined]
    leadership = groups.LeadershipFollower(state)
    listeners = getattr(replicas, "leadership_listeners", None)
    if listeners is not None:
        listeners.append(leadership.partition_changed)
    stop_fetchers = getattr(replicas, "stop_fetchers", None)
    if stop_fetchers is not None:
        services.add_shutdown_hook(stop_fetchers)  # type: ignore[attr-defined]

    if is_cluster_store(config.metadata_store):
        await start_cluster(state, leadership.nudge, nursery)
        await nursery.start(configs.follow_broker_overrides, state, overrides_version)
    else:
        for name, record in (await list_topics(store)).items():
            states = await list_partitions(store, name)
            replicas.apply_topic(record, [s for s, _ in states.values()])
    for topic, index in replicas.orphaned_logs():
        log.info("deleting %s-%d: its topic no longer exists", topic, index)
        logs.delete_log(topic, index)
    log.info(
        "opened %d partitions of %d topics in %.2f s",
        len(replicas.partitions), len(replicas.topics), time.monotonic() - started,
    )

    nursery.start_soon(replicas.group_commit.run)
    coordinators = GroupCoordinators(
        CoordinatorConfig(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
            offsets_retention_ms=config.offsets_retention_minutes * 60_000,
        ),
        config.offsets_topic_num_partitions,
        nursery,
        replicas.group_commit.wait_durable,
    )
    services.extras[groups.COORDINATORS_KEY] = coordinators  # type: ignore[attr-defined]
    await groups.follow_led_partitions(state, coordinators)
    nursery.start_soon(leadership.run, coordinators)

    for api_key, handler in {**HANDLERS, **groups.HANDLERS}.items():
        registry.register(api_key, handler)
    nursery.start_soon(_retention_timer, replicas, config.log_retention_check_interval_ms / 1000)
    nursery.start_soon(_flush_timer, logs)
    nursery.start_soon(_checkpoint_timer, logs)
    nursery.start_soon(_cleaner_timer, logs, config.log_cleaner_backoff_ms / 1000)


async def _close_logs(logs: LogManager) -> None:
    """Clean shutdown of storage: fsync, clean markers, checkpoints (in a worker thread)."""
    await trio.to_thread.run_sync(logs.close)
    log.info("logs closed cleanly")


async def _retention_timer(replicas: ReplicaManager, interval_s: float) -> None:
    while True:
        await trio.sleep(interval_s)
        deleted = replicas.logs.run_retention(int(time.time() * 1000))
        if deleted:
            log.info("retention deleted %d segments", deleted)
            replicas.report_sizes()


async def _flush_timer(logs: LogManager) -> None:
    """fsync the logs whose flush.messages / flush.ms policy is due, off the event loop."""
    while True:
        await trio.sleep(FLUSH_CHECK_INTERVAL_S)
        due = logs.logs_due_for_flush(int(time.time() * 1000))
        tasks = prepare_flushes(due)
        if tasks:
            await trio.to_thread.run_sync(run_flushes, [task for _, task in tasks])
            for log_, task in tasks:
                log_.complete_flush(task)


async def _cleaner_timer(logs: LogManager, interval_s: float) -> None:
    """Compact the logs of compacted topics; the record work runs in a worker thread."""
    cleaner = Cleaner()
    while True:
        await trio.sleep(interval_s)
        for log_ in logs.all_logs():
            job = cleaner.prepare(log_)
            if job is not None:
                await trio.to_thread.run_sync(job.run, int(time.time() * 1000))
                cleaner.finish(job)


async def _checkpoint_timer(logs: LogManager) -> None:
    while True:
        await trio.sleep(CHECKPOINT_INTERVAL_S)
        logs.checkpoint()
