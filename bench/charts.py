"""PNG charts of a suite run: ingest rates, bandwidth against the machine's limits, latency.

:func:`series` picks the figures (pure); :func:`draw_all` draws them with matplotlib's
non-interactive backend into small PNGs.
"""

from __future__ import annotations

from pathlib import Path

from bench.results import Run

INGEST = (
    ("raw.ingest.100b.1m", "Rillet raw, ~1 MB batches"),
    ("raw.ingest.100b.16k", "Rillet raw, 16 KiB batches"),
    ("raw.ingest.1000p", "Rillet raw, 1,000 partitions"),
    ("raw.durable.1m", "Rillet raw, acks=all + fsync"),
    ("clients.confluent.produce", "Rillet ← confluent-kafka"),
    ("clients.sdk.produce", "Rillet ← SDK"),
    ("clients.confluent.durable", "Rillet ← confluent-kafka, acks=all"),
    ("redis.xadd", "Redis XADD, no persistence"),
    ("redis.xadd.everysec", "Redis XADD, AOF everysec"),
    ("nats.jetstream", "NATS JetStream, file"),
)
BANDWIDTH = (
    ("machine.loopback", "loopback TCP (limit)"),
    ("machine.disk", "disk write + fsync (limit)"),
    ("raw.fetch.1m", "Rillet fetch, ~1 MB batches"),
    ("clients.confluent.consume", "Rillet → confluent-kafka"),
    ("raw.ingest.1k", "Rillet ingest, 1 KiB records"),
    ("raw.ingest.100b.1m", "Rillet ingest, 100 B records"),
)
LATENCY = (
    ("latency.acks1", "acks=1"),
    ("latency.durable", "acks=all + fsync"),
)
PERCENTILES = ("p50", "p99", "p99.9")


def series(run: Run) -> dict[str, list[tuple[str, float]]]:
    """Per chart, (label, value) pairs of the rows the run measured (missing rows left out)."""
    out: dict[str, list[tuple[str, float]]] = {"ingest": [], "bandwidth": [], "latency": []}
    for key, label in INGEST:
        row = run.find(key)
        if row is not None and row.ok and row.records_per_s:
            out["ingest"].append((label, row.records_per_s))
    for key, label in BANDWIDTH:
        row = run.find(key)
        if row is not None and row.ok and row.mb_per_s:
            out["bandwidth"].append((label, row.mb_per_s))
    for key, label in LATENCY:
        row = run.find(key)
        if row is not None and row.ok and row.latency_ms:
            for percentile in PERCENTILES:
                out["latency"].append((f"{label} {percentile}", row.latency_ms[percentile]))
    return out


def colour(label: str) -> str:
    """Rillet's bars blue, the machine's limits grey, the peers orange."""
    if label.startswith("Rillet") or label.startswith("acks"):
        return "#3b75af"
    if "(limit)" in label:
        return "#9a9a9a"
    return "#e08a2c"


def _bars(path: Path, title: str, unit: str, items: list[tuple[str, float]],
          scale: float = 1.0, log: bool = False) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    labels = [label for label, _ in items][::-1]
    values = [value / scale for _, value in items][::-1]
    figure, axes = pyplot.subplots(figsize=(7, 0.32 * len(items) + 1.0), dpi=80)
    bars = axes.barh(labels, values, color=[colour(label) for label in labels])
    axes.bar_label(bars, labels=[f"{v:,.2f}" if v < 10 else f"{v:,.0f}" for v in values],
                   padding=3, fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(unit, fontsize=9)
    axes.tick_params(labelsize=8)
    if log:
        axes.set_xscale("log")
    axes.margins(x=0.18)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


def draw_all(run: Run, directory: Path) -> list[Path]:
    """Draw every chart that has data into ``directory``; the PNG paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    data = series(run)
    paths = []
    if data["ingest"]:
        paths.append(_bars(directory / "ingest.png", "Ingest, 100-byte records",
                           "million records/s", data["ingest"], scale=1e6))
    if data["bandwidth"]:
        paths.append(_bars(directory / "bandwidth.png", "Bandwidth against the machine's limits",
                           "MB/s", data["bandwidth"]))
    if data["latency"]:
        paths.append(_bars(directory / "latency.png",
                           "End-to-end latency, 10,000 records/s (log scale)", "ms",
                           data["latency"], log=True))
    return paths
