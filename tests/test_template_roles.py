"""The template's roles for what issue 11 added: a CodeBuild service role able to run
buildspec.yml (pipeline create/update/start, PassRole of the execution role, the artifact
bucket and its KMS key, ECR push), and the execution role's rights for Deploy's autoscaling
moves and housekeeping. Actions are matched exactly (the template names them, no wildcards).
The CodeBuild role's needs: CreatePipeline/UpdatePipeline need iam:PassRole for RoleArn
(https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-access.html); ECR push
actions (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html);
Application Auto Scaling's caller permissions per API
(https://docs.aws.amazon.com/autoscaling/application/userguide/auth-and-access-control.html)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_infra import as_list, load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def template():
    return load(ROOT / "infra" / "ml-gateway.yaml")


def _granted(role: dict) -> dict[str, list]:
    found: dict[str, list] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") == "Allow":
                for action in as_list(statement["Action"]):
                    found.setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def test_codebuild_role_can_run_the_buildspec(template):
    role = template["Resources"]["CodeBuildServiceRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    granted = _granted(role)
    for action in (
        "sagemaker:CreatePipeline",
        "sagemaker:UpdatePipeline",
        "sagemaker:DescribePipeline",
        "sagemaker:StartPipelineExecution",
        "sagemaker:AddTags",
        "iam:PassRole",
        # what the SDK calls at upsert (recorded by tests/test_iam_conformance.py)
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListAllMyBuckets",
        "iam:GetRole",
        "iam:SimulatePrincipalPolicy",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "ecr:GetAuthorizationToken",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchCheckLayerAvailability",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "logs:PutLogEvents",
    ):
        assert action in granted, f"CodeBuildServiceRole lacks {action}"
    assert granted["iam:PassRole"] == [{"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]}]
    assert "CodeBuildServiceRoleArn" in template["Outputs"]


def test_execution_role_can_move_autoscaling_and_clean_up(template):
    granted = _granted(template["Resources"]["SageMakerExecutionRole"])
    for action in (
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "sagemaker:ListModels",
        "sagemaker:ListEndpointConfigs",
        "sagemaker:DeleteModel",
        "sagemaker:DeleteEndpointConfig",
    ):
        assert action in granted, f"SageMakerExecutionRole lacks {action}"


MLFLOW_SERVER = "arn:aws:sagemaker:us-east-1:000000000000:mlflow-tracking-server/fraud"


@pytest.mark.slow
def test_execution_role_may_log_to_the_mlflow_server_it_is_given(tmp_path):
    """The conformance row for MLflow logging: the REST calls processing/mlflow_log.py makes to a
    real MLflow tracking server (its access log), mapped to sagemaker-mlflow actions
    (tests/support/iam/actions.py MLFLOW_REST), are allowed to the execution role on the server's
    ARN when the stack names it (MlflowTrackingServerArn), and none is allowed when it does not."""
    import re
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import numpy as np

    from localcloud.iam import policy
    from localcloud.iam.template import template_roles
    from processing import mlflow_log
    from tests.support.iam.actions import mlflow_needs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "server.log").open("w")
    # Artifacts written by the client straight to the store (as to the server's S3 location on
    # SageMaker), not proxied: only tracking calls reach the server.
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--default-artifact-root", (tmp_path / "artifacts").as_uri(), "--no-serve-artifacts"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        rng = np.random.default_rng(1)
        y = rng.integers(0, 2, 200)
        scores = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
        metric = {"value": 0.8}
        report = {
            "binary_classification_metrics": {
                "auc": metric,
                "pr_auc": metric,
                "confusion_matrix": {"0": {"0": 1, "1": 0}, "1": {"0": 0, "1": 1}},
            }
        }
        history = {"params": {"eta": 0.2}, "rounds": {"validation": {"auc": [0.7, 0.8]}}}
        mlflow_log.log_run(url, history, report, y, scores, run_name="r1", tags={"sagemaker.x": "1"})
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    calls = sorted(
        {
            (m.group(1), m.group(2))
            for m in re.finditer(r'"(GET|POST|PUT|PATCH|DELETE) (/api/[^ ?"]+)', (tmp_path / "server.log").read_text())
        }
    )
    needs = mlflow_needs(calls, MLFLOW_SERVER)
    assert {n.action for n in needs} >= {"sagemaker-mlflow:CreateRun", "sagemaker-mlflow:UpdateRun"}, calls

    def execution_policies(parameters):
        (role,) = [r for r in template_roles("000000000000", "us-east-1", parameters=parameters)
                   if r.logical_id == "SageMakerExecutionRole"]  # fmt: skip
        return role.policies

    granted = execution_policies({"MlflowTrackingServerArn": MLFLOW_SERVER})
    for need in needs:
        assert policy.evaluate(granted, need.action, need.resource).allowed, need
        other = MLFLOW_SERVER.replace("/fraud", "/other")
        assert not policy.evaluate(granted, need.action, other).allowed, need
    default = execution_policies(None)
    assert not [n for n in needs if policy.evaluate(default, n.action, n.resource).allowed]
