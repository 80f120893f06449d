"""Profile the broker under one raw workload: where its time goes, function by function.

Run: ``python -m bench.profile ingest-16k`` (or ``ingest-1m``, ``ingest-1000p``,
``durable-16k``, ``fetch-1m``).  Starts a broker under cProfile, drives it with the raw
generator for ``--seconds``, stops it and prints the functions with the most time of their
own and the most cumulative time.  cProfile slows the broker down (two to three times on
small requests), so read shares, not absolute figures.
"""

from __future__ import annotations

import argparse
import io
import pstats
import tempfile
from pathlib import Path

from bench import kafka_raw
from bench.brokers import BrokerProcess
from bench.kafka_clients import create_topic, new_topic_name

SHAPES = {
    "ingest-16k": kafka_raw.ProduceShape(batch_records=150),
    "ingest-1m": kafka_raw.ProduceShape(batch_records=9_000),
    "ingest-1000p": kafka_raw.ProduceShape(batch_records=100, partitions=1000,
                                           partitions_per_request=100),
    "durable-16k": kafka_raw.ProduceShape(batch_records=150, acks=-1),
    "fetch-1m": kafka_raw.ProduceShape(batch_records=9_000),
}


def profile(name: str, seconds: float, top: int, keep: str | None = None) -> str:
    """Drive workload ``name`` against a profiled broker; the report text.

    ``keep``: also save the raw profile there, for ``pstats`` browsing.
    """
    shape = SHAPES[name]
    with tempfile.TemporaryDirectory(prefix="rillet-profile-") as scratch:
        out = keep or str(Path(scratch) / "broker.prof")
        with BrokerProcess(profile_to=out) as broker:
            topic = new_topic_name("profile")
            create_topic(broker.bootstrap, topic, shape.partitions)
            outcome = kafka_raw.produce(broker.bootstrap, topic, shape, seconds=seconds)
            if name.startswith("fetch"):
                end = kafka_raw.end_offset(broker.bootstrap, topic)
                outcome = kafka_raw.fetch(broker.bootstrap, topic, end)
        text = io.StringIO()
        rate = outcome.records / outcome.seconds
        text.write(f"{name}: {rate:,.0f} records/s, {outcome.payload_bytes / outcome.seconds / 1e6:,.1f}"
                   " MB/s under the profiler\n")
        stats = pstats.Stats(out, stream=text)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return text.getvalue()


def main() -> None:
    """Profile one workload and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(SHAPES))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", metavar="PATH", help="save the raw profile here too")
    args = parser.parse_args()
    print(profile(args.workload, args.seconds, args.top, args.keep))


if __name__ == "__main__":
    main()
