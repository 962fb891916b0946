"""InvokeEndpoint latency over HTTP: `bench_invoke(cloud)` deploys a small xgboost endpoint and
times ~2,000 boto3 `invoke_endpoint` calls against the running localcloud at cloud.config.url.

    python -m benchmarks.invoke      # starts its own server in a temp home
"""

from __future__ import annotations

import io
import json
import statistics
import tarfile
import time
import uuid
from typing import Any

FEATURES = ["customer_age", "num_injuries", "total_claim_amount", "num_witnesses"]


def _model_tar() -> bytes:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, len(FEATURES)))
    y = (x[:, 2] + 0.3 * x[:, 0] > 0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4},
        xgb.DMatrix(x, label=y, feature_names=FEATURES),
        num_boost_round=50,
    )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (
            ("xgboost-model", bytes(booster.save_raw("json"))),
            ("features.json", json.dumps({"features": FEATURES, "label": "fraud"}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench_invoke(cloud: Any, requests: int = 2000, warmup: int = 100) -> dict[str, Any]:
    """Deploy a 50-tree model on a fresh endpoint and time InvokeEndpoint (JSON, one record)."""
    import boto3
    from botocore.config import Config as BotoConfig

    cfg = cloud.config
    tag = uuid.uuid4().hex[:8]
    key = f"bench-{tag}/model.tar.gz"
    cloud.s3.create_bucket("bench-models")
    cloud.s3.put_object("bench-models", key, _model_tar())
    session = dict(
        endpoint_url=cfg.url,
        region_name=cfg.region,
        aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret_key,
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    sm = boto3.client("sagemaker", **session)
    rt = boto3.client("sagemaker-runtime", **session)
    name = f"bench-{tag}"
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "xgboost", "ModelDataUrl": f"s3://bench-models/{key}"})
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    body = json.dumps(
        {"instances": [{"customer_age": 41, "num_injuries": 1, "total_claim_amount": 0.7, "num_witnesses": 2}]}
    )
    try:
        for _ in range(warmup):
            rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
        samples = []
        started = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)["Body"].read()
            samples.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        in_process = []
        for _ in range(requests):  # the same call without HTTP/SigV4/boto3: the backend's share
            t0 = time.perf_counter()
            cloud.sagemaker.invoke(name, body.encode(), "application/json", None)
            in_process.append((time.perf_counter() - t0) * 1000)
    finally:
        sm.delete_endpoint(EndpointName=name)
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(_percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
        "throughput_rps": round(requests / elapsed, 1),
        "backend_p50_ms": round(statistics.median(in_process), 3),
        "backend_p99_ms": round(_percentile(in_process, 99), 3),
    }


def main() -> None:
    import tempfile
    from pathlib import Path

    from localcloud.config import Config
    from localcloud.server import LocalCloudServer

    with tempfile.TemporaryDirectory() as home:
        server = LocalCloudServer(Config(home=Path(home), port=0))
        server.start_background()
        try:
            print(json.dumps(bench_invoke(server.cloud), indent=2))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
