"""`mlgw bench`: the benchmarks (benchmarks/).

Each benchmark is a sub-command with only the flags it uses. A benchmark that ran exits 0,
whatever its verdicts: MISSED is a result to read, not a crash. Non-zero means it could not
measure (the pipeline failed, requests did not answer)."""

from __future__ import annotations

import argparse

from mlgw.args import policy_count, sized_count

MONITOR_RECORDS = 1_000_000


def register(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="benchmarks: each figure next to its target (MET/MISSED) and a peer",
        description="Each benchmark prints its figures next to its target "
        "(MET/MISSED) and a peer: the same work done the plain "
        "way. It exits 0 when it ran, whether or not the targets "
        "were met.",
    )
    which = bench.add_subparsers(dest="what", required=True, metavar="BENCHMARK")
    pipeline = which.add_parser(
        "pipeline",
        help="`mlgw run` end to end: data, definition build, pipeline; per step",
        description="For each size, in this process: the pipeline's wall time and each step, "
        "the data and definition phases, peak memory and test AUC, next to the peer "
        "(the same data work and training inline). At 5,000 policies also `mlgw run` "
        "itself (a new process and localcloud daemon on a fresh state directory), "
        "first with an empty definition cache, then with the cache it filled, "
        "against the target of 20 s end to end.",
    )
    pipeline.add_argument(
        "--policies", type=policy_count, action="append", help="sizes to run (repeatable; default 5000 and 100000)"
    )
    which.add_parser(
        "localcloud", help="GetRecord p50/p99 (in-process and HTTP), bulk ingest records/s, InvokeEndpoint p50/p99"
    )
    which.add_parser(
        "gateway",
        help="in-process floor, a naive single-process service and the "
        "gateway end to end at 1 and 16 clients, plus the Lambda "
        "handler alone with its AWS answers replayed",
    )
    monitor = which.add_parser("monitor", help="a monitoring run over captured records (target: 1,000,000 under 15 s)")
    monitor.add_argument(
        "--records",
        type=sized_count("capture records"),
        default=MONITOR_RECORDS,
        help=f"captured records to check (default {MONITOR_RECORDS:,}, the "
        "target's size; a smaller run is quick but not judged)",
    )
    which.add_parser(
        "hosting",
        help="endpoint instances as processes: InvokeEndpoint p50 over the instance's own "
        "/invocations (target +1 ms), 2 instances vs 1 at 16 clients (target 1.6x)",
    )
    which.add_parser("studio", help="page times with 200 executions and 50 model versions")
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

        print(f"writing {args.records:,} capture records (not timed), then monitoring them…", flush=True)
        print_bench(bench_monitor(records=args.records))
        return 0
    if args.what == "hosting":
        from benchmarks.invoke import main_hosting

        return main_hosting()
    from benchmarks.studio import bench_studio

    return bench_studio()
