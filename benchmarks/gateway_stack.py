"""A small ML Gateway stack on a running localcloud, built without the pipeline: an XGBoost
endpoint (one or more variants of one model) and the populated `claims` / `customers` feature
groups. Shared by tests/test_gateway.py and `mlgw bench gateway` (benchmarks.gateway).

It is no part of localcloud (it was localcloud/apigateway/stack.py): the gateway benchmark builds
it, and benchmarks cannot import tests, so it lives here and the tests import it from here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipelines import images

ROLE = "arn:aws:iam::000000000000:role/sagemaker"
IMAGE = images.xgboost_local_uri()
GROUPS = ("claims", "customers")


def encoded_frames(policies: int, seed: int = 1):
    """(claims, customers) encoded frames for `policies` synthetic policies."""
    from processing import synthetic
    from processing.features import encode_claims, encode_customers

    raw_claims, raw_customers = synthetic.generate(policies, seed=seed)
    return encode_claims(raw_claims), encode_customers(raw_customers)


def model_tar(claims, customers, rounds: int = 10) -> bytes:
    """model.tar.gz bytes (xgboost-model + features.json), as the training step writes it."""
    import xgboost as xgb

    from processing.features import MODEL_FEATURES

    frame = claims.merge(customers, on="policy_id")
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(frame[MODEL_FEATURES].to_numpy(), label=frame["fraud"].to_numpy(), feature_names=MODEL_FEATURES),
        num_boost_round=rounds,
    )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (
            ("xgboost-model", bytes(booster.save_raw("json"))),
            ("features.json", json.dumps({"features": MODEL_FEATURES, "label": "fraud"}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def boto_client(service: str, url: str, region: str = "us-east-1", access_key: str = "test", secret_key: str = "test"):
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def deploy_endpoint(sm, s3, tar: bytes, endpoint: str, variants: Sequence[str] = ("A",), prefix: str = "gw") -> None:
    """Model `<prefix>-model` from s3://models/<prefix>/model.tar.gz (uploaded with the boto3
    client `s3`) → config → endpoint (not waited)."""
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key=f"{prefix}/model.tar.gz", Body=tar)
    sm.create_model(
        ModelName=f"{prefix}-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://models/{prefix}/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{prefix}-config",
        ProductionVariants=[
            {
                "VariantName": v,
                "ModelName": f"{prefix}-model",
                "InitialVariantWeight": 1.0,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
            for v in variants
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{prefix}-config")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """`env` set in os.environ for the block (code that reads AWS_* itself), then restored."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def populate_groups(sm, s3, claims, customers, env: dict[str, str]) -> None:
    """Create both feature groups (their offline store's bucket with the boto3 client `s3`) and
    bulk-ingest every row (boto3 reads `env`: AWS_* + MLGW_HOME)."""
    from processing.feature_ingest import ingest
    from processing.feature_store import ensure_group, feature_definitions

    s3.create_bucket(Bucket="feature-store")
    now = round(time.time(), 3)
    with environ(env):
        for name, frame in zip(GROUPS, (claims, customers)):
            frame = frame.copy()
            frame["event_time"] = now
            with _quiet():
                ensure_group(sm, name, feature_definitions(frame), "s3://feature-store/offline", ROLE)
            written = ingest(frame, name)
            if written != len(frame):
                raise RuntimeError(f"feature group {name}: ingested {written} of {len(frame)} rows")


def wait_in_service(sm, endpoint: str) -> None:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})


def build(
    url: str,
    home: Path,
    *,
    policies: int,
    endpoint: str,
    variants: Sequence[str] = ("A",),
    seed: int = 1,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The whole stack on the localcloud at `url`; returns the frames and the model tar."""
    sm, s3 = boto_client("sagemaker", url), boto_client("s3", url)
    claims, customers = encoded_frames(policies, seed)
    tar = model_tar(claims, customers)
    deploy_endpoint(sm, s3, tar, endpoint, variants)
    client_env = {
        "AWS_ENDPOINT_URL": url,
        "MLGW_HOME": str(home),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        **(env or {}),
    }
    populate_groups(sm, s3, claims, customers, client_env)
    wait_in_service(sm, endpoint)
    return {"claims": claims, "customers": customers, "model_tar": tar}
