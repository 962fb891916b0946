"""`mlgw bench`: the benchmarks (benchmarks/)."""
from __future__ import annotations

import argparse

from mlgw.args import CliError, positive_int


def register(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks against the targets in DESIGN.md",
                           description="pipeline: per-step and total wall time, peak memory and "
                                       "test AUC at 5,000 and 100,000 policies. localcloud: "
                                       "GetRecord p50/p99 (in-process and HTTP), bulk ingest "
                                       "records/s, InvokeEndpoint p50/p99. gateway: in-process "
                                       "floor, a naive single-process service and the gateway "
                                       "end to end at 1 and 16 clients, plus the Lambda "
                                       "handler alone with its AWS answers replayed (what "
                                       "boto3 costs before any network). monitor: a monitoring "
                                       "run over 1,000,000 captured records. "
                                       "studio: page times with 200 executions and 50 model "
                                       "versions.")
    bench.add_argument("what", choices=["pipeline", "localcloud", "gateway", "monitor", "studio"])
    bench.add_argument("--policies", type=positive_int, action="append",
                       help="pipeline sizes to run (repeatable; default 5000 and 100000)")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "pipeline":
        from benchmarks.pipeline import bench_pipeline
        return bench_pipeline(args.policies or [5_000, 100_000])
    if args.what == "localcloud":
        from benchmarks.localcloud import bench_localcloud
        return bench_localcloud()
    if args.what == "gateway":
        from benchmarks.gateway import bench_gateway
        return bench_gateway()
    if args.what == "monitor":
        from benchmarks.monitor import bench_monitor, print_bench
        print("writing 1,000,000 capture records (not timed), then monitoring them…", flush=True)
        print_bench(bench_monitor())
        return 0
    if args.what == "studio":
        from benchmarks.studio import bench_studio
        return bench_studio()
    raise CliError(f"unknown benchmark {args.what}")
