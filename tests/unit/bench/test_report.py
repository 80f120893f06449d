"""The markdown page: headline comparisons, every row, skipped rows said as such."""

from __future__ import annotations

from bench.report import Comparison, comparison_rows, figure, render, result_row
from bench.results import SKIPPED, Result, Run, measured


def _run() -> Run:
    raw = measured(Result(key="raw", group="ingest", system="Rillet", generator="raw",
                          workload="ingest"), 3_000_000, 300_000_000, 1.0)
    raw.cpu = {"broker": 0.95, "generator": 0.3, "machine": 1.5, "others": 0.25,
               "disk busy": 0.954, "disk MB/s": 671.4}
    raw.load = (1.25, 1.5)
    peer = measured(Result(key="peer", group="ingest", system="Redis", generator="resp",
                           workload="xadd"), 1_000_000, 100_000_000, 1.0)
    cluster = Result(key="rf3", group="replication", system="Rillet", generator="raw",
                     workload="rf3 | acks=all", status=SKIPPED, note="needs a cluster")
    return Run(started="2026-01-01T00:00:00", mode="full", machine={"cores": 2, "cpu": "x"},
               results=[raw, peer, cluster], load_before=(1.0, 1.0, 1.0),
               load_after=(2.0, 2.0, 2.0), seconds=60)


def test_comparison_shows_both_figures_and_their_ratio() -> None:
    rows = comparison_rows(_run(), [Comparison("raw vs peer", "raw", "peer")])
    assert rows == ["| raw vs peer | 3,000,000 rec/s | 1,000,000 rec/s | 3.00× |"]


def test_comparison_in_megabytes() -> None:
    rows = comparison_rows(_run(), [Comparison("bw", "raw", "peer", "mb_per_s")])
    assert rows == ["| bw | 300.0 MB/s | 100.0 MB/s | 3.00× |"]


def test_comparison_with_a_skipped_side_has_no_ratio() -> None:
    rows = comparison_rows(_run(), [Comparison("rf3 vs raw", "rf3", "raw")])
    assert rows == ["| rf3 vs raw | not available | 3,000,000 rec/s | — |"]


def test_comparison_of_rows_not_in_the_run_is_left_out() -> None:
    assert comparison_rows(_run(), [Comparison("x", "nope", "neither")]) == []


def test_figure_for_a_missing_row() -> None:
    assert figure(None, "records_per_s") == "not run"


def test_result_row_has_every_column_and_escapes_pipes() -> None:
    line = result_row(_run().find("raw"))
    cells = line.strip("|").split(" | ")
    assert len(cells) == 14
    assert cells[3] == "3,000,000" and cells[4] == "300.0"
    assert cells[8] == "broker 0.95" and cells[9] == "0.30" and cells[10] == "0.25"
    assert cells[11] == "95%, 671 MB/s"
    assert result_row(_run().find("peer")).strip("|").split(" | ")[11] == "—"
    skipped = result_row(_run().find("rf3"))
    assert "rf3 \\| acks=all" in skipped
    assert "**not available**: needs a cluster" in skipped


def test_render_has_headline_groups_and_charts() -> None:
    text = render(_run(), ["charts/ingest.png"])
    assert "## Side by side" in text
    assert "![ingest](charts/ingest.png)" in text
    assert "## Ingest, one partition" in text and "## Replication" in text
    assert text.index("## Ingest, one partition") < text.index("## Replication")
    assert "before: 1.00/1.00/1.00" in text
