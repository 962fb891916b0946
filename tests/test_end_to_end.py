"""The README's main job on small data: generate → pipeline → deployed endpoint → invoke;
a second run updates the same endpoint in place."""

from __future__ import annotations

import io
import json
import re
import socket
import tarfile
from pathlib import Path

import boto3
import pytest

from localcloud import daemon
from localcloud.config import Config
from mlgw import local_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path):
    cfg = Config(home=tmp_path / "mlgw", port=_free_port())
    yield cfg
    daemon.stop(cfg)


@pytest.mark.slow
def test_run_deploys_an_endpoint_and_a_second_run_updates_it(config, capsys):
    first = local_run.run(config, policies=1500, seed=7, claims=None, customers=None, parameters={})
    out = capsys.readouterr().out
    assert first.succeeded, out
    assert "test AUC" in out and "model package" in out
    # BuildDataset waits for the asynchronously replicated offline store, in the run's progress.
    assert "BuildDataset           offline store: every record of this ingest is there" in out

    rt = boto3.client("sagemaker-runtime", endpoint_url=config.url, region_name=config.region)
    sm = boto3.client("sagemaker", endpoint_url=config.url, region_name=config.region)
    endpoint_before = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
    assert endpoint_before["EndpointStatus"] == "InService"

    reply = rt.invoke_endpoint(
        EndpointName=local_run.ENDPOINT_NAME,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"instances": [{"total_claim_amount": 80000.0}]}),
    )
    score = json.loads(reply["Body"].read())["predictions"][0]["score"]
    assert 0.0 <= score <= 1.0

    # Train ran in SageMaker's XGBoost 1.7-1 image (training/image.toml): the registered artifact
    # is a model of that image's xgboost, which its endpoints load on AWS.
    package = sm.describe_model_package(ModelPackageName=_package_arn(first))
    model_data = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = model_data[len("s3://") :].split("/", 1)
    s3 = boto3.client("s3", endpoint_url=config.url, region_name=config.region)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        saved = json.load(tar.extractfile("xgboost-model"))
    pin = re.search(r"^xgboost==([\d.]+)", Path("training/requirements.txt").read_text(), re.M)[1]
    assert ".".join(map(str, saved["version"])) == pin == "1.7.4"

    second = local_run.run(config, policies=1500, seed=8, claims=None, customers=None, parameters={})
    assert second.succeeded, capsys.readouterr().out
    endpoint_after = sm.describe_endpoint(EndpointName=local_run.ENDPOINT_NAME)
    assert endpoint_after["EndpointStatus"] == "InService"
    assert endpoint_after["EndpointConfigName"] != endpoint_before["EndpointConfigName"]
    assert _package_arn(second) != _package_arn(first)


def _package_arn(result) -> str:
    return next(s["Metadata"]["RegisterModel"]["Arn"] for s in result.steps if "RegisterModel" in s.get("Metadata", {}))
