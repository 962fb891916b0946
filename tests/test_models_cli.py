"""`mlgw models list|describe|compare`: what a user reads from the registry — versions newest
first with approval and metrics, one version in full, two side by side — and errors in the
user's terms for a group or version that does not exist."""

from __future__ import annotations

import json
import os

from localcloud import daemon
from mlgw.cli import main

BUCKET = "sagemaker-us-east-1-000000000000"
GROUP = "MLGatewayFraud"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _evaluation(auc: float, pr_auc: float) -> dict:
    # Evaluate's evaluation.json (processing/evaluate.py), SageMaker's model-quality layout.
    return {
        "binary_classification_metrics": {
            "auc": {"value": auc, "standard_deviation": "NaN"},
            "pr_auc": {"value": pr_auc, "standard_deviation": "NaN"},
            # Evaluate's layout (Model Monitor's): actual -> predicted -> count
            "confusion_matrix": {"0": {"0": 950, "1": 20}, "1": {"0": 10, "1": 20}},
        }
    }


def _register(sm, s3, auc: float, pr_auc: float, version: int, approval: str) -> str:
    key = f"ml-gateway/evaluation/v{version}/evaluation.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(_evaluation(auc, pr_auc)).encode())
    s3.put_object(Bucket=BUCKET, Key=f"ml-gateway/model/v{version}/model.tar.gz", Body=b"x")
    return sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=approval,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/ml-gateway/model/v{version}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
        },
    )["ModelPackageArn"]


def _cli(localcloud, capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--home", str(localcloud.cloud.config.home)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_list_describe_compare(localcloud, client, capsys):
    # The CLI finds localcloud by its run file, as after `mlgw localcloud start`.
    config = localcloud.cloud.config
    daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
    sm, s3 = client("sagemaker"), client("s3")
    s3.create_bucket(Bucket=BUCKET)

    code, _, err = _cli(localcloud, capsys, "models", "list")
    assert code == 2 and "model package group MLGatewayFraud does not exist" in err

    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    first = _register(sm, s3, 0.91, 0.41, 1, "Approved")
    _register(sm, s3, 0.94, 0.52, 2, "PendingManualApproval")

    code, out, _ = _cli(localcloud, capsys, "models", "list")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("2", "PendingManualApproval", "0.9400", "0.5200"),
        ("1", "Approved", "0.9100", "0.4100"),
    ]

    code, out, _ = _cli(localcloud, capsys, "models", "describe", "1")
    assert code == 0 and first in out and "auc        0.9100" in out
    assert [line.split() for line in out.splitlines() if line.startswith("    ")] == [
        ["950", "20"],
        ["10", "20"],
    ]  # the confusion matrix, rows actual 0/1

    # why a version was rejected (a rollback writes its ApprovalDescription) is shown with it
    sm.update_model_package(
        ModelPackageArn=first, ModelApprovalStatus="Rejected", ApprovalDescription="rolled back on endpoint fraud"
    )
    code, out, _ = _cli(localcloud, capsys, "models", "describe", "1")
    assert "approval   Rejected (rolled back on endpoint fraud)" in out, out
    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")

    code, out, _ = _cli(localcloud, capsys, "models", "compare", "1", "2")
    assert code == 0
    auc_row = next(line for line in out.splitlines() if line.startswith("auc "))
    assert auc_row.split() == ["auc", "0.9100", "0.9400", "+0.0300"]

    code, _, err = _cli(localcloud, capsys, "models", "describe", "7")
    assert code == 2 and "has no version 7" in err
    code, _, err = _cli(localcloud, capsys, "models", "compare", "1")
    assert code == 2 and "compare takes two versions" in err
