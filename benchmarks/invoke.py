"""InvokeEndpoint latency over HTTP: `bench_invoke(cloud)` deploys a small xgboost endpoint and
times ~2,000 boto3 `invoke_endpoint` calls against the running localcloud at cloud.config.url.

    python -m benchmarks.invoke      # starts its own server in a temp home
"""

from __future__ import annotations

import io
import json
import os
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


# -- endpoint instances as processes -------------------------------------------------------------

# The sourcedir.tar.gz members the pipeline stages for the serving container
# (pipelines/ml_gateway/pipeline.py `_stage_serving_code`).
SERVING_CODE = (
    ("inference/serving.py", "serving.py"),
    ("processing/__init__.py", "processing/__init__.py"),
    ("processing/features.py", "processing/features.py"),
    ("processing/contract.py", "processing/contract.py"),
    ("processing/schema.json", "processing/schema.json"),
)

_TRAIN_1_7 = """
import io, json, sys, tarfile
import numpy as np, xgboost as xgb
features = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.normal(size=(500, len(features)))
y = (x[:, 2] + 0.3 * x[:, 0] > 0).astype(int)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 4},
                    xgb.DMatrix(x, label=y, feature_names=features), num_boost_round=50)
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w:gz") as tar:
    for name, data in (("xgboost-model", bytes(booster.save_raw("json"))),
                       ("features.json", json.dumps({"features": features, "label": "fraud"}).encode())):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
sys.stdout.buffer.write(out.getvalue())
"""


def serving_code_archive() -> bytes:
    """The serving code as the sourcedir.tar.gz SAGEMAKER_SUBMIT_DIRECTORY names."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, name in SERVING_CODE:
            tar.add(root / path, arcname=name)
    return out.getvalue()


def model_tar_1_7(python: str) -> bytes:
    """A 50-tree model trained and saved by the serving image's xgboost (1.7), as model.tar.gz."""
    import subprocess

    done = subprocess.run(
        [python, "-c", _TRAIN_1_7, json.dumps(FEATURES)], capture_output=True, check=True, timeout=300
    )
    return done.stdout


def _deploy_instances(cloud: Any, sm: Any, name: str, count: int, model_uri: str, code_uri: str, image: str) -> None:
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::000000000000:role/bench",
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": model_uri,
            "Environment": {"SAGEMAKER_PROGRAM": "serving.py", "SAGEMAKER_SUBMIT_DIRECTORY": code_uri},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 1200})
    status = sm.describe_endpoint(EndpointName=name)
    if status["EndpointStatus"] != "InService":
        raise RuntimeError(f"endpoint {name}: {status['EndpointStatus']}: {status.get('FailureReason')}")


def _throughput(call: Any, clients: int, seconds: float) -> float:
    """Requests per second `clients` threads complete calling `call()` for `seconds`."""
    import threading

    done = [0] * clients
    stop = time.perf_counter() + seconds

    def run(k: int) -> None:
        while time.perf_counter() < stop:
            call()
            done[k] += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def _measured(cloud: Any, endpoint: str, call: Any, clients: int, seconds: float) -> tuple[float, float, float]:
    """(requests/s, CPU ms per request in this process -- localcloud's routing and the load
    generator --, CPU ms per request in the endpoint's instance processes)."""
    import psutil

    me = psutil.Process()
    procs = []
    for instance in cloud.sagemaker.hosting.live(endpoint):
        leader = psutil.Process(instance.proc.pid)
        procs += [leader, *leader.children(recursive=True)]

    def cpu(p: Any) -> float:
        t = p.cpu_times()
        return float(t.user + t.system)

    mine, theirs = cpu(me), [cpu(p) for p in procs]
    started = time.perf_counter()
    rps = _throughput(call, clients, seconds)
    requests = max(1.0, rps * (time.perf_counter() - started))
    router = (cpu(me) - mine) / requests * 1000
    instances = sum(cpu(p) - t for p, t in zip(procs, theirs)) / requests * 1000
    return round(rps, 1), round(router, 3), round(instances, 3)


def bench_hosting(cloud: Any, requests: int = 1000, clients: int = 16, seconds: float = 5.0) -> dict[str, Any]:
    """Endpoint instances as processes (XGBoost 1.7-1 image, sagemaker-containers under gunicorn):
    - p50 of InvokeEndpoint as localcloud serves it (`cloud.sagemaker.invoke`: pick the variant
      and instance, POST to its /invocations, count, answer) against a POST straight to the
      same instance's /invocations, same body, same run; the boto3 + HTTP + SigV4 call to
      localcloud too, for reference (its floor is judged by the localcloud benchmark);
    - requests/s at `clients` concurrent clients with 1 instance and with 2."""
    import boto3
    from botocore.config import Config as BotoConfig

    from localcloud.sagemaker.hosting.instances import serving_python
    from pipelines.images import xgboost_local_uri

    cfg = cloud.config
    tag = uuid.uuid4().hex[:8]
    cloud.s3.create_bucket("bench-models")
    image = xgboost_local_uri()
    python = serving_python(image)
    cloud.s3.put_object("bench-models", f"{tag}/model.tar.gz", model_tar_1_7(python))
    cloud.s3.put_object("bench-models", f"{tag}/sourcedir.tar.gz", serving_code_archive())
    model_uri, code_uri = f"s3://bench-models/{tag}/model.tar.gz", f"s3://bench-models/{tag}/sourcedir.tar.gz"
    session = dict(
        endpoint_url=cfg.url,
        region_name=cfg.region,
        aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret_key,
        config=BotoConfig(retries={"max_attempts": 1}, max_pool_connections=clients),
    )
    sm = boto3.client("sagemaker", **session)
    rt = boto3.client("sagemaker-runtime", **session)
    body = json.dumps(
        {"instances": [{"customer_age": 41, "num_injuries": 1, "total_claim_amount": 0.7, "num_witnesses": 2}]}
    ).encode()
    headers = {"Content-Type": "application/json"}
    one, two = f"bench-{tag}-1", f"bench-{tag}-2"
    out: dict[str, Any] = {"requests": requests, "clients": clients}
    try:
        _deploy_instances(cloud, sm, one, 1, model_uri, code_uri, image)
        instance = cloud.sagemaker.hosting.live(one)[0]
        out["instance"] = (
            f"pid {instance.proc.pid}, Python {instance.python_version}, xgboost {instance.xgboost_version}"
        )

        def direct() -> None:
            answer = instance.post(body, headers)
            assert answer.status == 200, answer.data

        def routed() -> None:
            cloud.sagemaker.invoke(one, body, "application/json", None)

        def wire() -> None:
            rt.invoke_endpoint(EndpointName=one, ContentType="application/json", Body=body)["Body"].read()

        timings: dict[str, list[float]] = {"direct": [], "routed": [], "wire": []}
        for _ in range(100):  # warm-up
            direct(), routed(), wire()
        for _ in range(requests):  # interleaved, so a busy moment hits all three alike
            for label, call in (("direct", direct), ("routed", routed), ("wire", wire)):
                t0 = time.perf_counter()
                call()
                timings[label].append((time.perf_counter() - t0) * 1000)
        for label, samples in timings.items():
            out[f"{label}_p50_ms"] = round(statistics.median(samples), 3)
            out[f"{label}_p99_ms"] = round(_percentile(samples, 99), 3)
        out["rps_1_instance"], _, _ = _measured(cloud, one, routed, clients, seconds)
        _deploy_instances(cloud, sm, two, 2, model_uri, code_uri, image)

        def routed_two() -> None:
            cloud.sagemaker.invoke(two, body, "application/json", None)

        _throughput(routed_two, clients, 1.0)  # warm both instances' connections
        out["rps_2_instances"], out["router_cpu_ms"], out["instance_cpu_ms"] = _measured(
            cloud, two, routed_two, clients, seconds
        )
        out["served_per_instance_2"] = [i.served for i in cloud.sagemaker.hosting.live(two)]
    finally:
        for name in (one, two):
            try:
                sm.delete_endpoint(EndpointName=name)
            except Exception:  # noqa: BLE001 - an endpoint the run never created
                pass
    return out


def print_hosting(result: dict[str, Any]) -> None:
    """Each figure next to its peer, the ratio and MET/MISSED."""
    added = result["routed_p50_ms"] - result["direct_p50_ms"]
    ratio = result["rps_2_instances"] / result["rps_1_instance"] if result["rps_1_instance"] else 0.0
    print(f"instance: {result['instance']}; {result['requests']} requests each, interleaved")
    print(
        f"InvokeEndpoint (localcloud's route) p50 {result['routed_p50_ms']:.3f} ms  peer: the instance's "
        f"/invocations directly p50 {result['direct_p50_ms']:.3f} ms  added {added:+.3f} ms  "
        f"(target <= 1 ms) {'MET' if added <= 1.0 else 'MISSED'}"
    )
    print(
        f"  for reference: InvokeEndpoint through boto3 + HTTP + SigV4 p50 {result['wire_p50_ms']:.3f} ms "
        f"(p99 {result['wire_p99_ms']:.3f} ms); route p99 {result['routed_p99_ms']:.3f} ms, "
        f"direct p99 {result['direct_p99_ms']:.3f} ms"
    )
    print(
        f"throughput at {result['clients']} clients: 2 instances {result['rps_2_instances']:.0f} req/s  "
        f"peer: 1 instance {result['rps_1_instance']:.0f} req/s  ratio {ratio:.2f}x  (target >= 1.6x) "
        f"{'MET' if ratio >= 1.6 else 'MISSED'}  (requests per instance: {result['served_per_instance_2']})"
    )
    router, server = result["router_cpu_ms"], result["instance_cpu_ms"]
    cores = os.cpu_count() or 1
    bound = min(2.0, cores * server / (server + router) if server + router else 0.0)
    print(
        f"  CPU per request: {server:.3f} ms in the instances, {router:.3f} ms in this process "
        f"(localcloud's routing and the load generator, on the same {cores} cores): 2 instances can "
        f"reach at most ~{bound:.2f}x of 1 instance that has a core to itself"
    )


def main_hosting() -> int:
    import tempfile
    from pathlib import Path

    from localcloud.config import Config
    from localcloud.server import LocalCloudServer

    with tempfile.TemporaryDirectory() as home:
        server = LocalCloudServer(Config(home=Path(home), port=0))
        server.start_background()
        try:
            print_hosting(bench_hosting(server.cloud))
        finally:
            server.stop()
    return 0
