"""``python -m bench``: the benchmark suite, with Rillet, its peers and the machine's limits.

Runs every workload of :mod:`bench.workloads` in turn with a progress display, then writes
the run's JSON to ``bench/results/<time>.json``, the tables to ``bench/RESULTS.md`` and the
charts to ``bench/charts/``.  ``--quick`` runs the same workloads briefly (a smoke test, its
figures are not worth quoting); ``--only`` picks workloads by key prefix; ``--cluster`` names
a running three-broker cluster for the replicated workloads, which otherwise start etcd and
three brokers of their own.  The single-purpose benchmarks (``python -m bench.native_bench`` and the
others) still run on their own.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import machine
from bench.charts import draw_all
from bench.procstat import load_average
from bench.report import render
from bench.results import FAILED, Run, save
from bench.suite import Context, Options, run_workload
from bench.workloads import all_workloads

HERE = Path(__file__).resolve().parent


def parse(argv: list[str] | None = None) -> tuple[Options, Path]:
    """Options from the command line, and where to write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--only", action="append", default=[], metavar="PREFIX",
                        help="run only workloads whose key starts with PREFIX (repeatable)")
    parser.add_argument("--cluster", metavar="HOST:PORT",
                        help="bootstrap of a running three-broker cluster for the RF=3 workloads "
                        "(default: they start their own)")
    parser.add_argument("--no-peers", action="store_true", help="leave Redis and NATS out")
    parser.add_argument("--data-dir", help="where brokers, peers and the disk test write "
                        "(default: the system's temporary directory)")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="directory for RESULTS.md, charts/ and results/ (default: bench/)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.list:
        for workload in all_workloads():
            print(f"{workload.key:<28} {workload.title}")
        sys.exit(0)
    options = Options(quick=args.quick, cluster=args.cluster, only=args.only,
                      peers=not args.no_peers, data_root=args.data_dir)
    return options, args.out


def main(argv: list[str] | None = None) -> int:
    """Run the suite; exit status 1 when any workload failed."""
    options, out = parse(argv)
    workloads = [w for w in all_workloads()
                 if not options.only or any(w.key.startswith(p) for p in options.only)]
    console = Console()
    started = datetime.datetime.now().replace(microsecond=0)
    (out / "results").mkdir(parents=True, exist_ok=True)
    log = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False,
                                      dir=out / "results")
    options.log_path = log.name
    run = Run(started=started.isoformat(), mode="quick" if options.quick else "full",
              machine=machine.facts(), load_before=load_average())
    clock = time.perf_counter()
    with Progress(TextColumn("{task.description:<52}"), BarColumn(), TextColumn("{task.fields[note]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        total = progress.add_task("suite", total=sum(w.expected for w in workloads), note="")
        for workload in workloads:
            task = progress.add_task(workload.title, total=1.0, note="")

            def on_progress(fraction: float, task: int = task) -> None:
                progress.update(task, completed=fraction)

            rows = run_workload(workload, Context(options, on_progress))
            run.results.extend(rows)
            failed = [row for row in rows if row.status == FAILED]
            note = "[red]failed[/]" if failed else (
                "[yellow]not available[/]" if not any(row.ok for row in rows) else "[green]ok[/]")
            progress.update(task, completed=1.0, note=note)
            progress.advance(total, workload.expected)
            for row in failed:
                console.print(f"[red]{workload.key}: {row.note}[/]")
    run.seconds = time.perf_counter() - clock
    run.load_after = load_average()
    path = save(run, out / "results")
    charts = draw_all(run, out / "charts")
    (out / "RESULTS.md").write_text(render(run, [str(p.relative_to(out)) for p in charts]))
    console.print(f"results: {path}\nreport: {out / 'RESULTS.md'}; client logs: {log.name}")
    return 1 if any(row.status == FAILED for row in run.results) else 0


if __name__ == "__main__":
    sys.exit(main())
