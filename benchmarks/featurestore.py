"""Feature-store measurements for `mlgw bench localcloud`: GetRecord latency in-process and
over HTTP (boto3), and bulk-ingest throughput. Runs against a throwaway localcloud in a temp
home so the caller's state is untouched (`cloud` only lends its region and keys).

Over HTTP, GetRecord latency is dominated by the server socket: without TCP_NODELAY on the
server's connections (Nagle + delayed ACK) every response waits ~40 ms."""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

FEATURES = 40


def _definitions(n: int = FEATURES) -> list[dict[str, str]]:
    defs = [
        {"FeatureName": "record_id", "FeatureType": "String"},
        {"FeatureName": "event_time", "FeatureType": "Fractional"},
    ]
    kinds = ("Fractional", "Integral", "String")
    defs += [{"FeatureName": f"f{i:02d}", "FeatureType": kinds[i % 3]} for i in range(n - 2)]
    return defs


def _frame(rows: int, event_time: float):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    data: dict[str, Any] = {"record_id": [f"r{i}" for i in range(rows)], "event_time": np.full(rows, event_time)}
    for d in _definitions()[2:]:
        name, kind = d["FeatureName"], d["FeatureType"]
        if kind == "Fractional":
            data[name] = rng.random(rows)
        elif kind == "Integral":
            data[name] = rng.integers(0, 1_000_000, rows)
        else:
            data[name] = pd.Series(rng.integers(0, 1000, rows)).map("cat{}".format)
    return pd.DataFrame(data)


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 3),
    }


def bench_featurestore(cloud: Any = None, *, rows: int = 100_000, gets: int = 2000) -> dict[str, Any]:
    import boto3
    import duckdb  # noqa: F401 - the server imports it once; keep the import out of the timing
    import pyarrow as pa
    from botocore.config import Config as BotoConfig

    from localcloud.config import Config
    from localcloud.server import LocalCloudServer
    from processing.bulk_ingest import bulk_ingest

    base = cloud.config if cloud is not None else Config()
    home = Path(tempfile.mkdtemp(prefix="mlgw-fs-bench-"))
    server = LocalCloudServer(dataclasses.replace(base, home=home, port=0))
    server.start_background()
    try:
        local = server.cloud
        store = local.featurestore
        for name in ("bench", "bench-http"):
            store.create_group(
                {
                    "FeatureGroupName": name,
                    "RecordIdentifierFeatureName": "record_id",
                    "EventTimeFeatureName": "event_time",
                    "FeatureDefinitions": _definitions(),
                    "OnlineStoreConfig": {"EnableOnlineStore": True},
                    "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": "s3://bench/fs"}},
                }
            )
        frame = _frame(rows, time.time())
        table = pa.Table.from_pandas(frame, preserve_index=False)

        start = time.perf_counter()
        store.ingest_table("bench", table)
        in_process = time.perf_counter() - start

        start = time.perf_counter()
        bulk_ingest(
            frame,
            "bench-http",
            endpoint_url=server.url,
            region=base.region,
            credentials=(base.access_key, base.secret_key),
        )
        over_http = time.perf_counter() - start

        ids = [f"r{(i * 7919) % rows}" for i in range(gets)]
        samples = []
        for rid in ids:
            t0 = time.perf_counter()
            store.get_record("bench", rid)
            samples.append(time.perf_counter() - t0)
        get_local = _percentiles(samples)

        runtime = boto3.client(
            "sagemaker-featurestore-runtime",
            endpoint_url=server.url,
            region_name=base.region,
            aws_access_key_id=base.access_key,
            aws_secret_access_key=base.secret_key,
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        runtime.get_record(FeatureGroupName="bench", RecordIdentifierValueAsString="r0")  # warm up
        samples = []
        for rid in ids[: gets // 2]:
            t0 = time.perf_counter()
            runtime.get_record(FeatureGroupName="bench", RecordIdentifierValueAsString=rid)
            samples.append(time.perf_counter() - t0)
        get_http = _percentiles(samples)
        return {
            "bulk_ingest_rows": rows,
            "bulk_ingest_columns": FEATURES,
            "bulk_ingest_in_process_records_per_s": round(rows / in_process),
            "bulk_ingest_http_records_per_s": round(rows / over_http),
            "get_record_in_process": get_local,
            "get_record_http_boto3": get_http,
        }
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    import json

    print(json.dumps(bench_featurestore(), indent=2))
