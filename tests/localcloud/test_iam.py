"""localcloud's IAM: the template's roles in the local account, SimulatePrincipalPolicy answered
from their policies, role-session credentials, the evaluator, and the request-to-action table.

AWS behaviour reproduced, by source:
- Policy evaluation logic (explicit deny > allow > implicit deny; missing condition keys):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and
  reference_policies_elements_condition_operators.html ("...IfExists", "Null").
- SimulatePrincipalPolicy (EvalDecision, MissingContextValues, ContextEntries):
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
- GetRole (AssumeRolePolicyDocument URL-encoded; NoSuchEntity, HTTP 404):
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html
- GetCallerIdentity for a role session: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION,
  https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
- Feature Store offline store role: AmazonSageMakerFeatureStoreAccess (s3:PutObject,
  s3:GetBucketAcl, s3:PutObjectAcl), https://docs.aws.amazon.com/sagemaker/latest/dg/
  security-iam-awsmanpol-feature-store.html
"""

from __future__ import annotations

import copy
import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.iam import policy
from localcloud.iam.models import role_environment
from localcloud.iam.template import load as load_template
from localcloud.iam.template import template_roles
from tests.support.iam import actions, conformance

ACCOUNT, REGION = "000000000000", "us-east-1"
EXECUTION = f"arn:aws:iam::{ACCOUNT}:role/ml-gateway-sagemaker-execution"


# -- the evaluator ------------------------------------------------------------------------


def doc(*statements):
    return {"p": {"Version": "2012-10-17", "Statement": list(statements)}}


def test_wildcards_case_and_not_action():
    allow = doc({"Effect": "Allow", "Action": "S3:Get*", "Resource": "arn:aws:s3:::b/?ey*"})
    assert policy.evaluate(allow, "s3:GetObject", "arn:aws:s3:::b/key/x").allowed
    assert not policy.evaluate(allow, "s3:GetObject", "arn:aws:s3:::B/key").allowed  # resources: case
    assert not policy.evaluate(allow, "s3:PutObject", "arn:aws:s3:::b/key").allowed
    not_action = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert policy.evaluate(not_action, "s3:PutObject", "x").allowed
    assert policy.evaluate(not_action, "iam:PassRole", "x").decision == policy.IMPLICIT_DENY


def test_explicit_deny_wins_and_not_resource():
    policies = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoKeys", "Effect": "Deny", "Action": "kms:*", "NotResource": "arn:aws:kms:*:*:key/ok"},
    )
    decision = policy.evaluate(policies, "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/other")
    assert decision.decision == policy.EXPLICIT_DENY and decision.matched == [("p", "NoKeys")]
    assert policy.evaluate(policies, "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/ok").allowed


def test_conditions_decide_and_missing_keys_are_reported():
    policies = doc(
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
        }
    )
    missing = policy.evaluate(policies, "cloudwatch:PutMetricData")
    assert missing.decision == policy.IMPLICIT_DENY
    assert missing.missing_context == ["cloudwatch:namespace"]
    assert policy.evaluate(
        policies, "cloudwatch:PutMetricData", "*", {"CloudWatch:Namespace": "/aws/sagemaker/TrainingJobs"}
    ).allowed
    assert not policy.evaluate(policies, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Custom"}).allowed
    if_exists = doc(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "*",
            "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "a"}},
        }
    )
    assert policy.evaluate(if_exists, "iam:PassRole").allowed
    null = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Null": {"aws:SourceIp": "true"}}})
    assert policy.evaluate(null, "s3:GetObject").allowed
    assert not policy.evaluate(null, "s3:GetObject", "*", {"aws:SourceIp": "1.2.3.4"}).allowed


def test_an_unknown_operator_is_an_error_not_a_pass():
    with pytest.raises(policy.PolicyEvaluationError, match="DateGreaterThan"):
        policy.evaluate(
            doc(
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}},
                }
            ),
            "s3:x",
        )


# -- the IAM API ----------------------------------------------------------------------------


def test_get_role_returns_the_templates_role_and_refuses_unknown_ones(client):
    iam = client("iam")
    role = iam.get_role(RoleName="ml-gateway-sagemaker-execution")["Role"]
    assert role["Arn"] == EXECUTION
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    with pytest.raises(ClientError) as caught:
        iam.get_role(RoleName="MLGatewayPipelineRole")
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_simulate_principal_policy_answers_from_the_roles_policies(client):
    iam = client("iam")
    results = iam.simulate_principal_policy(
        PolicySourceArn=EXECUTION,
        ActionNames=["s3:GetObject", "ec2:CreateNetworkInterface"],
        ResourceArns=[f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/ml-gateway/x"],
    )["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "allowed"),
        ("ec2:CreateNetworkInterface", "implicitDeny"),
    ]
    metrics = iam.simulate_principal_policy(PolicySourceArn=EXECUTION, ActionNames=["cloudwatch:PutMetricData"])[
        "EvaluationResults"
    ][0]
    assert metrics["EvalDecision"] == "implicitDeny"
    assert metrics["MissingContextValues"] == ["cloudwatch:namespace"]
    with_context = iam.simulate_principal_policy(
        PolicySourceArn=EXECUTION,
        ActionNames=["cloudwatch:PutMetricData"],
        ContextEntries=[
            {
                "ContextKeyName": "cloudwatch:namespace",
                "ContextKeyType": "string",
                "ContextKeyValues": ["/aws/sagemaker/TrainingJobs"],
            }
        ],
    )
    assert with_context["EvaluationResults"][0]["EvalDecision"] == "allowed"
    with pytest.raises(ClientError) as caught:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/nope", ActionNames=["s3:GetObject"])
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"


def test_create_role_and_put_role_policy_then_simulate(client):
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
        ],
    }
    arn = iam.create_role(RoleName="extra", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with pytest.raises(ClientError) as caught:
        iam.create_role(RoleName="extra", AssumeRolePolicyDocument=json.dumps(trust))
    assert caught.value.response["Error"]["Code"] == "EntityAlreadyExists"
    iam.put_role_policy(
        RoleName="extra",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )
    assert iam.list_role_policies(RoleName="extra")["PolicyNames"] == ["read"]
    decision = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"])
    assert decision["EvaluationResults"][0]["EvalDecision"] == "allowed"
    with pytest.raises(ClientError) as caught:
        iam.put_role_policy(RoleName="extra", PolicyName="bad", PolicyDocument="{not json")
    assert caught.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_role_session_credentials_sign_as_the_role(localcloud):
    env = role_environment(localcloud.cloud.config, EXECUTION)
    sts = boto3.client(
        "sts",
        endpoint_url=localcloud.url,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    assert (
        sts.get_caller_identity()["Arn"]
        == f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-gateway-sagemaker-execution/localcloud"
    )
    forged = boto3.client(
        "sts",
        endpoint_url=localcloud.url,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="guess",
    )
    with pytest.raises(ClientError) as caught:
        forged.get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


# -- defect 2: the SDK's training-role check ----------------------------------------------------


def test_sdk_training_role_check_fails_on_the_templates_role_as_on_aws(localcloud, monkeypatch):
    """SDK 3.x's ModelTrainer smoke test (sagemaker.core.helper.iam_role_resolver) simulates VPC
    network-interface actions and an unconditioned PutMetricData: the least-privilege role
    fails it, here as on AWS. run_pipeline.build therefore turns that check off while it builds
    (its docstring says why); the pipeline role's check at upsert stays on and passes."""
    from sagemaker.core.helper.iam_role_resolver import RoleValidationError, resolve_and_validate_role

    from pipelines.ml_gateway.run_pipeline import training_role_smoke_test_off

    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE", raising=False)

    class Session:
        boto_session = boto3.Session(region_name=REGION)

    with pytest.raises(RoleValidationError, match="ec2:CreateNetworkInterface"):
        resolve_and_validate_role(EXECUTION, "training", Session())
    assert resolve_and_validate_role(EXECUTION, "pipeline", Session()) == EXECUTION
    with training_role_smoke_test_off():
        assert resolve_and_validate_role(EXECUTION, "training", Session()) == EXECUTION
    assert "SAGEMAKER_VALIDATE_ROLE" not in os.environ


# -- requests to actions, and defect 4 ---------------------------------------------------------


def test_requests_map_to_actions_resources_and_passrole():
    found = actions.needs(
        {
            "kind": "call",
            "service": "sagemaker",
            "operation": "CreateModel",
            "params": {"ModelName": "Fraud-v1", "ExecutionRoleArn": EXECUTION},
            "via": "step",
        },
        ACCOUNT,
        REGION,
    )
    assert [(n.action, n.resource, n.context_dict) for n in found] == [
        ("sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/fraud-v1", {}),
        ("iam:PassRole", EXECUTION, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]
    deletes = actions.needs(
        {
            "kind": "request",
            "service": "s3",
            "method": "POST",
            "path": "/b",
            "query": "delete",
            "target": "",
            "headers": {},
            "body": "<Delete><Object><Key>a&amp;b</Key></Object></Delete>",
        },
        ACCOUNT,
        REGION,
    )
    assert [(n.action, n.resource) for n in deletes] == [("s3:DeleteObject", "arn:aws:s3:::b/a&b")]
    with pytest.raises(actions.Unmapped, match="sagemaker:CreateHub"):
        actions.needs(
            {"kind": "call", "service": "sagemaker", "operation": "CreateHub", "params": {}, "via": "x"},
            ACCOUNT,
            REGION,
        )


def test_offline_store_role_needs_the_acl_actions_the_template_grants():
    """Defect 4: Feature Store writes the offline store as the group's RoleArn and needs
    s3:PutObjectAcl and s3:GetBucketAcl besides s3:PutObject; without OfflineStoreAcls the
    check names the role, the action and the resource."""
    template = load_template()
    entry = {
        "kind": "call",
        "principal": EXECUTION,
        "service": "sagemaker",
        "operation": "CreateFeatureGroup",
        "via": "job",
        "params": {
            "FeatureGroupName": "claims",
            "RoleArn": EXECUTION,
            "OfflineStoreConfig": {
                "S3StorageConfig": {"S3Uri": f"s3://sagemaker-{REGION}-{ACCOUNT}/ml-gateway/feature-store"}
            },
        },
    }
    required, unmapped = conformance.requirements([entry], template, ACCOUNT, REGION, admin="nobody")
    assert not unmapped
    roles = template_roles(ACCOUNT, REGION, template=template)
    assert not [m for m in conformance.check(required, roles).missing if m.principal == EXECUTION]

    execution = next(r for r in roles if r.arn == EXECUTION)
    execution.policies = copy.deepcopy(execution.policies)
    execution.policies["pipeline"]["Statement"] = [
        s for s in execution.policies["pipeline"]["Statement"] if s.get("Sid") != "OfflineStoreAcls"
    ]
    missing = [m for m in conformance.check(required, roles).missing if m.principal == EXECUTION]
    assert {(m.action, m.resource) for m in missing} == {
        ("s3:PutObjectAcl", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/ml-gateway/feature-store/"),
        ("s3:GetBucketAcl", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}"),
    }
    assert all(EXECUTION in str(m) and m.action in str(m) for m in missing)


def test_a_codebuild_role_must_grant_what_buildspec_does():
    """buildspec.yml pushes the processing image as the CodeBuild role (ECR layer uploads and
    the registry login token): a CodeBuild role without them fails, naming role and action."""
    template = copy.deepcopy(load_template())
    template["Resources"]["BuildRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": "ml-gateway-codebuild",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "Policies": [
                {
                    "PolicyName": "p",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
                    },
                }
            ],
        },
    }
    required = conformance.template_needs(template, ACCOUNT, REGION)
    report = conformance.check(required, template_roles(ACCOUNT, REGION, template=template))
    build = f"arn:aws:iam::{ACCOUNT}:role/ml-gateway-codebuild"
    missing = {(m.action, m.resource) for m in report.missing if m.principal == build}
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/ml-gateway-processing"
    assert ("ecr:PutImage", repo) in missing and ("ecr:UploadLayerPart", repo) in missing
    assert not any(a == "ecr:GetAuthorizationToken" for a, _ in missing)


def test_an_athena_query_needs_glue_on_its_tables_and_s3_on_its_results():
    """Athena uses the caller's permissions for the catalog and the result location
    (https://docs.aws.amazon.com/athena/latest/ug/security-iam-athena.html)."""
    from tests.support.iam import services

    params = {
        "QueryString": 'WITH latest AS (SELECT * FROM "sagemaker_featurestore"."claims_1") '
        "SELECT * FROM latest JOIN customers_2 USING (policy_id)",
        "QueryExecutionContext": {"Database": "sagemaker_featurestore"},
        "ResultConfiguration": {"OutputLocation": "s3://b/athena/"},
    }
    found = {(n.action, n.resource) for n in services.athena_query(ACCOUNT, REGION, params)}
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    assert ("glue:GetTable", f"{glue}:table/sagemaker_featurestore/claims_1") in found
    assert ("glue:GetPartitions", f"{glue}:table/sagemaker_featurestore/customers_2") in found
    assert not any(r.endswith("/latest") for _, r in found)  # a CTE is not a table
    assert ("s3:PutObject", "arn:aws:s3:::b/athena/") in found
    assert ("s3:GetBucketLocation", "arn:aws:s3:::b") in found
