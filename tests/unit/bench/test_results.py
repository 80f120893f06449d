"""Result arithmetic and the JSON round trip of a suite run."""

from __future__ import annotations

import pytest

from bench.results import (
    FAILED,
    SKIPPED,
    Result,
    Run,
    cores_busy,
    from_json,
    latency_summary,
    measured,
    percentile,
    ratio,
    throughput,
    to_json,
)


def _row(key: str, rate: float | None = None, status: str = "ok") -> Result:
    return Result(key=key, group="ingest", system="s", generator="g", workload="w",
                  status=status, records_per_s=rate)


def test_throughput_divides_records_and_megabytes_by_seconds() -> None:
    assert throughput(3_000, 300_000, 1.5) == (2_000.0, 0.2)


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_throughput_refuses_an_empty_interval(seconds: float) -> None:
    with pytest.raises(ValueError):
        throughput(1, 1, seconds)


def test_measured_fills_counts_and_rates() -> None:
    row = measured(_row("a"), 500, 50_000, 0.25)
    assert (row.records, row.payload_bytes, row.seconds) == (500, 50_000, 0.25)
    assert row.records_per_s == 2_000
    assert row.mb_per_s == pytest.approx(0.2)


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 0.999) == 100
    assert percentile(values, 0.0) == 1
    assert percentile([7], 0.5) == 7


def test_percentile_refuses_nothing_and_bad_fractions() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1], 1.5)


def test_latency_summary_sorts_and_converts_to_milliseconds() -> None:
    samples = [5_000_000, 1_000_000, 3_000_000, 2_000_000, 4_000_000]
    summary = latency_summary(samples)
    assert summary == {"p50": 3.0, "p99": 5.0, "p99.9": 5.0, "max": 5.0}


def test_cores_busy() -> None:
    assert cores_busy(3.0, 2.0) == 1.5
    with pytest.raises(ValueError):
        cores_busy(1.0, 0.0)


def test_ratio_needs_two_measured_rows() -> None:
    assert ratio(_row("a", 300.0), _row("b", 100.0)) == 3.0
    assert ratio(_row("a", 300.0), _row("b", 100.0, status=SKIPPED)) is None
    assert ratio(_row("a", 300.0, status=FAILED), _row("b", 100.0)) is None
    assert ratio(_row("a", 300.0), None) is None
    assert ratio(_row("a", 300.0), _row("b", 0.0)) is None


def test_a_run_survives_json() -> None:
    row = measured(_row("raw"), 10, 1_000, 2.0)
    row.latency_ms = {"p50": 1.5}
    row.cpu = {"broker": 0.9}
    row.load = (1.0, 2.0)
    skipped = _row("rf3", status=SKIPPED)
    skipped.note = "needs a cluster"
    run = Run(started="2026-01-01T00:00:00", mode="quick", machine={"cores": 2},
              results=[row, skipped], load_before=(1.0, 2.0, 3.0), load_after=(0.5, 1.0, 1.5),
              seconds=12.5)
    again = from_json(to_json(run))
    assert again == run
    assert again.find("rf3").note == "needs a cluster"
    assert again.find("missing") is None
