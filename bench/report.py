"""Render a suite run as markdown: the comparisons asked of the suite, then every row.

Pure apart from :func:`main`, which re-renders ``bench/RESULTS.md`` and the charts from a
saved run: ``python -m bench.report bench/results/<run>.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.results import DISK, DISK_BUSY, DISK_WRITTEN, Result, Run, load

GROUPS = (
    ("machine", "The machine's limits"),
    ("ingest", "Ingest, one partition"),
    ("producers", "Producers (real clients)"),
    ("consume", "Consume"),
    ("together", "Producer and consumer together"),
    ("latency", "End-to-end latency at a fixed rate"),
    ("partitions", "1,000 partitions"),
    ("durable", "Durable single node"),
    ("replication", "Replication"),
    ("failed", "Failed"),
)


@dataclass(frozen=True)
class Comparison:
    """One headline line: ``left`` over ``right`` in ``measure`` (records_per_s or mb_per_s)."""

    label: str
    left: str
    right: str
    measure: str = "records_per_s"


COMPARISONS = (
    Comparison("Broker ingest, 100 B, acks=1, 1 partition (raw, ~1 MB batches) vs Redis "
               "pipelined XADD", "raw.ingest.100b.1m", "redis.xadd"),
    Comparison("Broker ingest, 100 B, acks=1, 1 partition (raw, 16 KiB batches) vs Redis "
               "pipelined XADD", "raw.ingest.100b.16k", "redis.xadd"),
    Comparison("Broker ingest (raw, ~1 MB batches) vs Redis XADD with appendfsync everysec",
               "raw.ingest.100b.1m", "redis.xadd.everysec"),
    Comparison("Broker ingest (raw, ~1 MB batches) vs NATS JetStream, file storage",
               "raw.ingest.100b.1m", "nats.jetstream"),
    Comparison("SDK producer (send_nowait) vs confluent-kafka, 100 B, acks=1",
               "clients.sdk.produce", "clients.confluent.produce"),
    Comparison("Fetch of ~1 MB batches vs loopback TCP (MB/s)", "raw.fetch.1m",
               "machine.loopback", "mb_per_s"),
    Comparison("1 KiB ingest vs sequential disk write (MB/s)", "raw.ingest.1k",
               "machine.disk", "mb_per_s"),
    Comparison("Durable single node (acks=all, fsync) vs acks=1, raw ~1 MB batches",
               "raw.durable.1m", "raw.ingest.100b.1m"),
    Comparison("Durable single node (acks=all, fsync) vs acks=1, raw 16 KiB batches",
               "raw.durable.16k", "raw.ingest.100b.16k"),
    Comparison("Durable vs acks=1, confluent-kafka producer",
               "clients.confluent.durable", "clients.confluent.produce"),
    Comparison("1,000 partitions (100-record batches) vs 1 partition (16 KiB batches), raw",
               "raw.ingest.1000p", "raw.ingest.100b.16k"),
    Comparison("1,000 partitions vs 1 partition, confluent-kafka producer",
               "clients.confluent.1000p", "clients.confluent.produce"),
    Comparison("Replication factor 3, acks=all vs replication factor 1, acks=1 (raw, ~1 MB "
               "batches, same cluster)", "cluster.rf3.acksall.1m", "cluster.rf1.acks1.1m"),
    Comparison("Replication factor 3, acks=all vs replication factor 1, acks=1 (raw, 16 KiB "
               "batches, same cluster)", "cluster.rf3.acksall.16k", "cluster.rf1.acks1.16k"),
    Comparison("Replication factor 3, acks=1 vs replication factor 1, acks=1 (raw, ~1 MB "
               "batches, same cluster)", "cluster.rf3.acks1.1m", "cluster.rf1.acks1.1m"),
)


def number(value: float | None, digits: int = 0) -> str:
    """Thousands-separated, or an em dash for no value."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def figure(result: Result | None, measure: str) -> str:
    """A row's records/s or MB/s as text with its unit, or why there is none."""
    if result is None:
        return "not run"
    if not result.ok:
        return result.status
    value = getattr(result, measure)
    if value is None:
        return "—"
    if measure == "mb_per_s":
        return f"{number(value, 1)} MB/s"
    return f"{number(value)} rec/s"


def comparison_rows(run: Run, comparisons: Iterable[Comparison] = COMPARISONS) -> list[str]:
    """Markdown table rows for the headline comparisons present in ``run``."""
    rows = []
    for item in comparisons:
        left, right = run.find(item.left), run.find(item.right)
        if left is None and right is None:
            continue
        ratio = "—"
        if left is not None and right is not None and left.ok and right.ok:
            top, bottom = getattr(left, item.measure), getattr(right, item.measure)
            if top is not None and bottom:
                ratio = f"{top / bottom:.2f}×"
        rows.append(f"| {item.label} | {figure(left, item.measure)} | "
                    f"{figure(right, item.measure)} | {ratio} |")
    return rows


def _cores(result: Result) -> str:
    server = [f"{role} {value:.2f}" for role, value in result.cpu.items()
              if role not in ("generator", "machine", "others") and role not in DISK]
    return ", ".join(server) or "—"


def _disk(result: Result) -> str:
    busy, written = result.cpu.get(DISK_BUSY), result.cpu.get(DISK_WRITTEN)
    if busy is None or written is None:
        return "—"
    return f"{min(busy, 1.0):.0%}, {written:,.0f} MB/s"


def result_row(result: Result) -> str:
    """One markdown table row for a result."""
    latency = result.latency_ms
    load = f"{result.load[0]:.2f}" if result.load else "—"
    status = "" if result.ok else f"**{result.status}**: "
    note = (status + result.note).replace("|", "\\|")
    cells = [
        result.system or "—",
        result.generator or "—",
        result.workload.replace("|", "\\|"),
        number(result.records_per_s) if result.ok else "—",
        number(result.mb_per_s, 1) if result.ok else "—",
        number(latency.get("p50"), 2), number(latency.get("p99"), 2),
        number(latency.get("p99.9"), 2),
        _cores(result),
        number(result.cpu.get("generator"), 2),
        number(result.cpu.get("others"), 2),
        _disk(result),
        load,
        note,
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| system | load generator | workload | records/s | MB/s | p50 ms | p99 ms | p99.9 ms "
          "| server cores | generator cores | others' cores | disk busy, written | load avg | notes |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")


def render(run: Run, charts: Iterable[str] = ()) -> str:
    """The whole RESULTS.md text for ``run``; ``charts`` are image paths relative to it."""
    machine = run.machine
    lines = [
        "# Benchmark results",
        "",
        "Produced by `python -m bench` (`--quick` for a smoke run); the JSON of every run is "
        "kept in `bench/results/` (not committed). Re-render this page from one with "
        "`python -m bench.report bench/results/<run>.json`.",
        "",
        f"- Run: {run.started}, {run.mode} mode, {run.seconds:.0f} s in all.",
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gib', '?')} GiB, Linux {machine.get('kernel', '?')}, "
        f"Python {machine.get('python', '?')}.",
    ]
    if run.load_before and run.load_after:
        lines.append(
            f"- Load average (1/5/15 min) before: {'/'.join(f'{v:.2f}' for v in run.load_before)}"
            f", after: {'/'.join(f'{v:.2f}' for v in run.load_after)}. The machine is shared: "
            "*others' cores* is the CPU busy during each row's measured interval that no "
            "process of the benchmark was charged with (other work on the machine, kernel "
            "time not charged to a process), *server cores* what the broker or peer used, "
            "*generator cores* the load generator (1.00 = one core busy). Rows measured while "
            "others' cores were high ran on less than the whole machine. *disk busy, written*: "
            "the share of the interval the data disk had I/O in flight, and what was written to "
            "it per second (anyone's writes, the kernel's writeback of earlier rows included).")
    lines += [
        "- Every server runs fresh (new process, empty data directory) for each row, on "
        "127.0.0.1; raw generators send pre-encoded requests over 4 pipelined connections.",
        "",
        "## Side by side",
        "",
        "| comparison | Rillet | against | ratio |",
        "|---|---:|---:|---:|",
        *comparison_rows(run),
        "",
    ]
    for chart in charts:
        lines += [f"![{Path(chart).stem}]({chart})", ""]
    by_group: dict[str, list[Result]] = {}
    for result in run.results:
        by_group.setdefault(result.group, []).append(result)
    known = {name for name, _ in GROUPS}
    titles = list(GROUPS) + [(name, name) for name in by_group if name not in known]
    for name, title in titles:
        rows = by_group.get(name)
        if not rows:
            continue
        lines += [f"## {title}", "", HEADER, *(result_row(r) for r in rows), ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    """Re-render RESULTS.md and the charts from a saved run."""
    from bench.charts import draw_all

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    run = load(args.run)
    charts = draw_all(run, args.out / "charts")
    relative = [str(path.relative_to(args.out)) for path in charts]
    (args.out / "RESULTS.md").write_text(render(run, relative))


if __name__ == "__main__":
    main()
