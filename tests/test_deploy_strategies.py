"""Deploy strategies on localcloud: replace, canary at a weight (routing honoured within ±2 %
over 10,000 requests), promote and rollback under load with no failed request."""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading

import numpy as np
import pytest

from processing import deploy
from processing.features import MODEL_FEATURES
from processing.job import JobError

ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"
BODY = json.dumps({"instances": [{"total_claim_amount": 9000.0, "incident_severity": "Major"}]})


def _model_tar(seed: int) -> bytes:
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(MODEL_FEATURES)))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(x, label=y, feature_names=MODEL_FEATURES),
        num_boost_round=3,
    )
    files = {
        "xgboost-model": bytes(booster.save_raw("json")),
        "features.json": json.dumps({"features": MODEL_FEATURES, "label": "fraud"}).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def packages(localcloud, client):
    """Three approved model package versions, v1..v3, each its own model."""
    sm = client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="Fraud")
    arns = []
    for version in (1, 2, 3):
        localcloud.cloud.s3.create_bucket("models")
        localcloud.cloud.s3.put_object("models", f"v{version}/model.tar.gz", _model_tar(version))
        arns.append(
            sm.create_model_package(
                ModelPackageGroupName="Fraud",
                ModelApprovalStatus="Approved",
                InferenceSpecification={
                    "Containers": [{"Image": "xgboost", "ModelDataUrl": f"s3://models/v{version}/model.tar.gz"}],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
            )["ModelPackageArn"]
        )
    return sm, client("sagemaker-runtime"), arns


def _deploy(sm, rt, arn: str, strategy: str, weight: float = 0.1):
    return deploy.deploy(
        sm,
        rt,
        package_arn=arn,
        endpoint_name="fraud",
        role_arn=ROLE,
        strategy=strategy,
        new_weight=weight,
        instance_type="ml.m5.large",
        instance_count=1,
        capture_uri=None,
        timeout=60,
    )


def _weights(sm) -> dict[str, float]:
    endpoint = sm.describe_endpoint(EndpointName="fraud")
    return {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}


def test_canary_routes_by_weight_then_promote_and_rollback_fail_no_request(localcloud, packages):
    sm, rt, (v1, v2, v3) = packages
    _deploy(sm, rt, v1, "canary")  # no endpoint yet: a canary starts as a plain replace
    assert _weights(sm) == {"v1": 1.0}

    _deploy(sm, rt, v2, "canary", weight=0.2)
    assert _weights(sm) == {"v1": 0.8, "v2": 0.2}
    hosting = localcloud.cloud.sagemaker
    served = [hosting.invoke("fraud", BODY.encode(), "application/json", None).variant for _ in range(10_000)]
    assert abs(served.count("v2") / len(served) - 0.2) <= 0.02

    pinned = rt.invoke_endpoint(EndpointName="fraud", TargetVariant="v2", ContentType="application/json", Body=BODY)
    assert pinned["InvokedProductionVariant"] == "v2"

    failures, calls, stop = [], [0], threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                rt.invoke_endpoint(EndpointName="fraud", ContentType="application/json", Body=BODY)
                calls[0] += 1
            except Exception as exc:  # any failed request fails the test
                failures.append(exc)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        assert deploy.finish_test(sm, "fraud", None, promote=True) == "v2"
        _deploy(sm, rt, v3, "canary", weight=0.3)
        assert _weights(sm) == {"v2": 0.7, "v3": 0.3}
        assert deploy.finish_test(sm, "fraud", None, promote=False) == "v2"
    finally:
        stop.set()
        worker.join()
    assert failures == [] and calls[0] > 0
    assert _weights(sm) == {"v2": 1.0}


def test_replace_and_refusals(localcloud, packages):
    sm, rt, (v1, v2, _) = packages
    _deploy(sm, rt, v1, "replace")
    _deploy(sm, rt, v2, "replace")
    assert _weights(sm) == {"v2": 1.0}
    with pytest.raises(JobError, match="no test to end"):
        deploy.finish_test(sm, "fraud", None, promote=True)
    with pytest.raises(JobError, match="DeployStrategy 'blue-green'"):
        _deploy(sm, rt, v1, "blue-green")
    with pytest.raises(JobError, match="NewVariantWeight"):
        _deploy(sm, rt, v1, "canary", weight=1.5)
    assert _weights(sm) == {"v2": 1.0}


def test_promote_and_rollback_decide_by_package_version_not_weight(localcloud, packages, capsys, monkeypatch):
    """A canary ramped with `mlgw endpoint weights` to 90 % is still the new model: promote
    keeps it, rollback removes it and marks its package Rejected (UpdateModelPackage
    ModelApprovalStatus / ApprovalDescription,
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html)."""
    from localcloud import daemon
    from mlgw.cli import main

    sm, rt, (v1, v2, v3) = packages
    home = str(localcloud.cloud.config.home)
    monkeypatch.setattr(daemon, "require_running", lambda _config: localcloud.cloud.config)

    def mlgw(*argv: str) -> str:
        assert main(["endpoint", *argv, "--name", "fraud", "--home", home]) == 0
        return capsys.readouterr().out

    _deploy(sm, rt, v1, "replace")
    _deploy(sm, rt, v2, "canary", weight=0.1)
    for bad, says in (
        ("v9=0.5", "no variant 'v9' on endpoint fraud (it has v1, v2)"),
        ("v2=-1", "a weight is a number of at least 0"),
    ):
        assert main(["endpoint", "weights", "--weight", bad, "--name", "fraud", "--home", home]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mlgw: error: --weight") and says in err and err.count("\n") == 1, err
    out = mlgw("weights", "--weight", "v1=0.1", "--weight", "v2=0.9")
    assert _weights(sm) == {"v1": 0.1, "v2": 0.9}
    # each variant with the model package it serves
    assert re.search(r"v1 +weight 0.1 +\(10% of traffic\)  serves Fraud version 1 \(Approved\)", out), out
    assert re.search(r"v2 +weight 0.9 +\(90% of traffic\)  serves Fraud version 2 \(Approved\)", out), out
    out = mlgw("promote")
    assert _weights(sm) == {"v2": 1.0}
    assert "kept v2 (Fraud version 2)" in out and "removed v1 (Fraud version 1)" in out
    assert f"{v2} stays Approved" in out
    assert {sm.describe_model_package(ModelPackageName=a)["ModelApprovalStatus"] for a in (v1, v2)} == {"Approved"}

    _deploy(sm, rt, v3, "canary", weight=0.1)
    mlgw("weights", "--weight", "v2=0.2", "--weight", "v3=1.8")
    out = mlgw("rollback")
    assert _weights(sm) == {"v2": 1.0}
    assert "kept v2 (Fraud version 2)" in out
    assert "removed v3 (Fraud version 3) and marked Rejected in the model registry" in out
    rejected = sm.describe_model_package(ModelPackageName=v3)
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert "rolled back on endpoint fraud" in rejected["ApprovalDescription"]
    assert sm.describe_model_package(ModelPackageName=v2)["ModelApprovalStatus"] == "Approved"


def test_deploy_fails_with_the_endpoints_failure_reason(localcloud, packages):
    """An endpoint whose model cannot load ends Failed with a FailureReason (DescribeEndpoint,
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html);
    Deploy stops waiting on it and fails with that reason, not a timeout."""
    sm, rt, _ = packages
    localcloud.cloud.s3.put_object("models", "broken/model.tar.gz", b"not a tarball")
    broken = sm.create_model_package(
        ModelPackageGroupName="Fraud",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://models/broken/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    with pytest.raises(JobError, match=r"endpoint fraud failed: Failed to load model: \w+"):
        _deploy(sm, rt, broken, "replace")
