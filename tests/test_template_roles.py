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
