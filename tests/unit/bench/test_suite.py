"""CPU accounting over samples, and failed workloads turned into rows."""

from __future__ import annotations

from bench.procstat import block_device
from bench.results import FAILED
from bench.suite import Context, Options, Workload, cores_between, run_workload


def test_cores_between_per_role_and_others() -> None:
    readings = [
        (10.0, {"broker": 5.0, "generator 0": 1.0, "machine": 100.0}),
        (12.0, {"broker": 6.5, "generator 0": 2.0, "generator 1": 0.0, "machine": 103.8}),
        (14.0, {"broker": 7.0, "generator 1": 1.0, "machine": 105.5}),
    ]
    cores = cores_between(readings)
    assert cores["broker"] == 0.5
    # generator 0 from 10 to 12 s, generator 1 from 12 to 14 s: half a core each
    assert cores["generator"] == 1.0
    assert cores["machine"] == 1.38
    assert cores["others"] == 0.0


def test_disk_readings_become_rates_and_are_no_ones_cores() -> None:
    readings = [
        (10.0, {"broker": 5.0, "machine": 100.0, "disk busy": 50.0, "disk MB/s": 1000.0}),
        (12.0, {"broker": 6.0, "machine": 102.0, "disk busy": 51.9, "disk MB/s": 2300.0}),
    ]
    cores = cores_between(readings)
    assert cores["disk busy"] == 0.95
    assert cores["disk MB/s"] == 650.0
    assert cores["others"] == 0.5


def test_context_reads_the_disk_of_the_data_root(tmp_path) -> None:
    context = Context(Options(data_root=str(tmp_path)), lambda _f: None)
    assert context.disk == block_device(str(tmp_path))


def test_cores_between_needs_two_readings() -> None:
    assert cores_between([(1.0, {"broker": 1.0})]) == {}


def test_a_raising_workload_becomes_a_failed_row() -> None:
    def boom(_ctx: Context) -> list:
        raise RuntimeError("broker did not start\nsecond line")

    rows = run_workload(Workload("x.y", "a title", 1, boom), Context(Options(), lambda _f: None))
    (row,) = rows
    assert row.status == FAILED
    assert row.note == "broker did not start"
    assert row.workload == "a title" and row.load is not None


def test_chart_series_take_measured_rows_only() -> None:
    from bench.charts import series
    from bench.results import SKIPPED, Result, Run, measured

    ok = measured(Result(key="redis.xadd", group="ingest", system="Redis", generator="g",
                         workload="w"), 100, 10_000, 1.0)
    skipped = Result(key="nats.jetstream", group="ingest", system="NATS", generator="g",
                     workload="w", status=SKIPPED)
    latency = Result(key="latency.acks1", group="latency", system="Rillet", generator="g",
                     workload="w", latency_ms={"p50": 1.0, "p99": 2.0, "p99.9": 3.0, "max": 4.0})
    data = series(Run(started="t", mode="quick", machine={}, results=[ok, skipped, latency]))
    assert data["ingest"] == [("Redis XADD, no persistence", 100.0)]
    assert data["bandwidth"] == []
    assert data["latency"] == [("acks=1 p50", 1.0), ("acks=1 p99", 2.0), ("acks=1 p99.9", 3.0)]


def test_best_of_keeps_the_fastest_run_and_reports_progress_across_rounds() -> None:
    from bench.suite import best_of

    outcomes = iter([{"records": 100, "seconds": 2.0}, {"records": 90, "seconds": 1.0},
                     {"records": 10, "seconds": 1.0}])
    heard: list[float] = []

    def run(progress) -> dict:  # type: ignore[no-untyped-def]
        progress(0.0)
        progress(1.0)
        return next(outcomes)

    assert best_of(3, run, heard.append) == {"records": 90, "seconds": 1.0}
    assert heard[0] > 0
    assert heard[-1] == 1.0
    assert heard == sorted(heard)
