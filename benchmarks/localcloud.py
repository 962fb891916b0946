"""`mlgw bench localcloud`: GetRecord p50/p99 (in-process and over HTTP), bulk ingest records/s
and InvokeEndpoint p50/p99 for a small XGBoost model, against DESIGN.md's targets.

The peer in the same run is the floor of the HTTP path: a signed do-nothing request
(STS GetCallerIdentity) through the same server and boto3 client stack, so the report shows
how much of each call is localcloud's own work.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

TARGETS = {"get_record_in_process_p99_ms": 1.0, "get_record_http_p99_ms": 3.0, "bulk_ingest_records_per_s": 50_000}


def _floor(config, requests: int = 1000) -> dict[str, float]:
    import boto3
    from botocore.config import Config as BotoConfig

    sts = boto3.client(
        "sts",
        endpoint_url=config.url,
        region_name=config.region,
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    sts.get_caller_identity()
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        sts.get_caller_identity()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3)}


def _verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "meets target" if ok else "MISSES target"


def bench_localcloud(out=None) -> int:
    import sys

    from benchmarks.featurestore import bench_featurestore
    from benchmarks.invoke import bench_invoke
    from localcloud.config import Config
    from localcloud.server import LocalCloudServer

    out = out or sys.stdout
    print("localcloud benchmark (a private server in a temp dir; 2,000 requests per figure)…", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix="mlgw-bench-") as home:
        server = LocalCloudServer(Config(home=Path(home), port=0))
        server.start_background()
        try:
            floor = _floor(server.cloud.config)
            invoke = bench_invoke(server.cloud)
        finally:
            server.stop()
    store = bench_featurestore(rows=100_000)

    local, http = store["get_record_in_process"], store["get_record_http_boto3"]
    ingest = store["bulk_ingest_http_records_per_s"]
    rows = [
        (
            "GetRecord in-process",
            f"p50 {local['p50_ms']:.3f} ms  p99 {local['p99_ms']:.3f} ms",
            f"p99 < {TARGETS['get_record_in_process_p99_ms']} ms",
            _verdict(local["p99_ms"], TARGETS["get_record_in_process_p99_ms"]),
        ),
        (
            "GetRecord over HTTP (boto3)",
            f"p50 {http['p50_ms']:.3f} ms  p99 {http['p99_ms']:.3f} ms",
            f"p99 < {TARGETS['get_record_http_p99_ms']} ms",
            _verdict(http["p99_ms"], TARGETS["get_record_http_p99_ms"]),
        ),
        (
            f"bulk ingest ({store['bulk_ingest_rows']:,} × {store['bulk_ingest_columns']} cols, HTTP)",
            f"{ingest:,} records/s (in-process {store['bulk_ingest_in_process_records_per_s']:,})",
            f"≥ {TARGETS['bulk_ingest_records_per_s']:,}/s",
            _verdict(ingest, TARGETS["bulk_ingest_records_per_s"], lower_is_better=False),
        ),
        (
            "InvokeEndpoint over HTTP (boto3)",
            f"p50 {invoke['p50_ms']:.3f} ms  p99 {invoke['p99_ms']:.3f} ms  ({invoke['throughput_rps']:.0f} req/s)",
            "—",
            f"model alone p50 {invoke['backend_p50_ms']:.3f} ms",
        ),
        (
            "peer: signed no-op (STS) over HTTP",
            f"p50 {floor['p50_ms']:.3f} ms  p99 {floor['p99_ms']:.3f} ms",
            "—",
            "the HTTP + SigV4 + boto3 floor",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, figure, target, verdict in rows:
        print(f"  {name:<{width}}  {figure:<52} {target:<12} {verdict}", file=out)
    return 0
