"""The peers side by side with Rillet: Redis Streams and NATS JetStream, raw pipelined load.

Each peer gets the same pipelined sender as Rillet's raw generator: 100-byte values in
chunks of 1,000 commands; Redis over 4 connections with at most 4 chunks in flight on each.
NATS gets one connection with 16 chunks in flight: with more than one publishing connection
the Debian build of nats-server (2.9.10) drops connections mid-stream with "Client parser
ERROR, state=41" (it misreads a payload's length), which no single-connection run showed.
The servers are installed from the distribution when missing (:mod:`bench.peers.install`).
"""

from __future__ import annotations

from dataclasses import asdict

from bench.child import report_progress
from bench.peers import install, nats_jetstream, redis_streams
from bench.results import SKIPPED, Result, measured
from bench.suite import Context, Workload, best_of

CONNECTIONS = 4
WINDOW = 4
NATS_CONNECTIONS = 1
NATS_WINDOW = 16
PER_CHUNK = 1000
SIZE = 100


def _redis_produce(port: int, seconds: float, rounds: int) -> dict:
    return best_of(rounds, lambda progress: asdict(redis_streams.produce(
        port, record_size=SIZE, per_chunk=PER_CHUNK, seconds=seconds,
        connections=CONNECTIONS, window=WINDOW, progress=progress)), report_progress)


def _nats_produce(port: int, seconds: float, rounds: int) -> dict:
    nats_jetstream.create_stream(port)
    return best_of(rounds, lambda progress: asdict(nats_jetstream.produce(
        port, record_size=SIZE, per_chunk=PER_CHUNK, seconds=seconds,
        connections=NATS_CONNECTIONS, window=NATS_WINDOW, progress=progress)), report_progress)


def _binary(ctx: Context, name: str, row: Result) -> str | None:
    if not ctx.options.peers:
        row.status, row.note = SKIPPED, "peers turned off (--no-peers)"
        return None
    if not ctx.peer_paths:
        ctx.peer_paths = install.ensure()
    where = ctx.peer_paths.get(name, "not installed")
    if not where.startswith("/"):
        row.status, row.note = SKIPPED, f"{name}: {where}"
        return None
    return where


def _redis(key: str, appendfsync: str | None, text: str):
    def run(ctx: Context) -> list[Result]:
        row = Result(key=key, group="ingest", system="Redis Streams", generator="raw RESP",
                     workload=text)
        binary = _binary(ctx, "redis-server", row)
        if binary is None:
            return [row]
        with redis_streams.RedisServer(binary, appendfsync, ctx.options.data_root) as server:
            (out,), cpu, _ = ctx.run(
                (_redis_produce, (server.port, ctx.scale.seconds, ctx.scale.rounds), {}),
                servers={"redis": server.pid})
        row.cpu = cpu
        if ctx.scale.rounds > 1:
            row.note = f"best of {ctx.scale.rounds} runs of {ctx.scale.seconds:g} s"
        return [measured(row, out["records"], out["payload_bytes"], out["seconds"])]
    return run


def nats(ctx: Context) -> list[Result]:
    """JetStream, file storage, every publish acknowledged."""
    row = Result(key="nats.jetstream", group="ingest", system="NATS JetStream",
                 generator="raw NATS",
                 workload="publish 100 B messages, 1 stream, file storage, every publish acked, "
                          "1,000 per pipelined chunk, one connection",
                 note="file store fsyncs on its own timer (2 min by default), not per publish; "
                      "one connection: nats-server 2.9.10 fails with several (see module doc)")
    binary = _binary(ctx, "nats-server", row)
    if binary is None:
        return [row]
    with nats_jetstream.NatsServer(binary, ctx.options.data_root) as server:
        (out,), cpu, _ = ctx.run(
            (_nats_produce, (server.port, ctx.scale.seconds, ctx.scale.rounds), {}),
            servers={"nats": server.pid})
    row.cpu = cpu
    return [measured(row, out["records"], out["payload_bytes"], out["seconds"])]


WORKLOADS = [
    Workload("redis.xadd", "Redis Streams: XADD, no persistence", 12, _redis(
        "redis.xadd", None,
        "XADD 100 B values, 1 stream, 1,000 per pipelined chunk, no persistence")),
    Workload("redis.xadd.everysec", "Redis Streams: XADD, appendfsync everysec", 12, _redis(
        "redis.xadd.everysec", "everysec",
        "XADD 100 B values, 1 stream, 1,000 per pipelined chunk, AOF appendfsync everysec")),
    Workload("nats.jetstream", "NATS JetStream: file storage", 12, nats),
]
