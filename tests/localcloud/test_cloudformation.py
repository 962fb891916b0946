"""localcloud's CloudFormation API, driven by boto3's `cloudformation` client against a running
localcloud: stacks created, updated, rolled back and deleted, each resource checked in the
service that owns it (IAM, S3, EventBridge, CloudWatch, the model registry).

AWS's wording of what is asserted (CloudFormation User Guide and API Reference):
- stack and resource statuses, "User Initiated", "The following resource(s) failed to create:
  [X]. Rollback requested by user." (the stack's ROLLBACK_IN_PROGRESS reason, as AWS's
  DescribeStackEvents shows it), "Encountered unsupported property X" (a property the type's
  schema does not have), "No updates are to be performed.", "Stack with id X does not exist",
  "Parameter 'X' must be one of AllowedValues", "Parameter 'X' must match pattern P",
  "Parameters: [X] must have values", "Parameters: [X] do not exist in the template",
  "Circular dependency between resources: [...]", "Requires capabilities : [CAPABILITY_NAMED_IAM]"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
"""

from __future__ import annotations

import json
import re
import textwrap
import time

import pytest
from botocore.exceptions import ClientError

from localcloud.cloudformation.handlers import HANDLERS
from localcloud.cloudformation.template import TEMPLATE, dependencies, load
from tests.conftest import start_server

NAMED_IAM = ["CAPABILITY_NAMED_IAM"]

SMALL = textwrap.dedent(
    """
    Parameters:
      Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
      Token: {Type: String, Default: s3cr3t, NoEcho: true}
      Schedule: {Type: String, Default: rate(1 hour)}
    Conditions:
      IsProd: !Equals [!Ref Env, prod]
    Resources:
      Role:
        Type: AWS::IAM::Role
        Properties:
          RoleName: !Sub ${AWS::StackName}-events
          AssumeRolePolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sts:AssumeRole}
          Policies:
            - PolicyName: start
              PolicyDocument:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Action: sagemaker:StartPipelineExecution
                    Resource: !Sub arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/p
      Rule:
        Type: AWS::Events::Rule
        Properties:
          ScheduleExpression: !Ref Schedule
          Targets:
            - Id: pipeline
              Arn: !Sub arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/p
              RoleArn: !GetAtt Role.Arn
      Bucket:
        Type: AWS::S3::Bucket
      ProdOnly:
        Type: AWS::S3::Bucket
        Condition: IsProd
    Outputs:
      RoleArn:
        Value: !GetAtt Role.Arn
        Export: {Name: !Sub "${AWS::StackName}-RoleArn"}
      RuleName: {Value: !Ref Rule}
      BucketArn: {Value: !GetAtt Bucket.Arn, Description: the bucket}
      Where: {Value: !Sub "${AWS::StackId} ${AWS::Region} ${AWS::URLSuffix} ${AWS::Partition} ${AWS::AccountId}"}
    """
)


def wait(cfn, stack: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not found["StackStatus"].endswith("_IN_PROGRESS"):
            return found
        assert time.monotonic() < deadline, f"stack still {found['StackStatus']}"
        time.sleep(0.05)


def events(cfn, stack: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason), oldest first."""
    found = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in reversed(found)]


def error_of(call, **params) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_stack_lifecycle_creates_updates_and_deletes_through_each_service(client):
    cfn, iam, s3, events_client = client("cloudformation"), client("iam"), client("s3"), client("events")
    stack_id = cfn.create_stack(StackName="app", TemplateBody=SMALL, Capabilities=NAMED_IAM)["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:000000000000:stack/app/")
    stack = wait(cfn, "app")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Env": "dev",
        "Token": "****",  # NoEcho
        "Schedule": "rate(1 hour)",
    }
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["RoleArn"]["OutputValue"] == "arn:aws:iam::000000000000:role/app-events"
    assert outputs["RoleArn"]["ExportName"] == "app-RoleArn"
    assert outputs["BucketArn"]["Description"] == "the bucket"
    assert outputs["Where"]["OutputValue"] == f"{stack_id} us-east-1 amazonaws.com aws 000000000000"

    # Each resource is in its service, shaped as the template says.
    role = iam.get_role(RoleName="app-events")["Role"]
    assert role["Arn"] == outputs["RoleArn"]["OutputValue"]
    assert iam.list_role_policies(RoleName="app-events")["PolicyNames"] == ["start"]
    rule_name = outputs["RuleName"]["OutputValue"]
    assert rule_name.startswith("app-Rule-")
    assert events_client.describe_rule(Name=rule_name)["ScheduleExpression"] == "rate(1 hour)"
    (target,) = events_client.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["RoleArn"] == role["Arn"]  # GetAtt of the role created first
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="app")["StackResources"]}
    assert set(resources) == {"Role", "Rule", "Bucket"}  # ProdOnly's condition is false
    bucket = resources["Bucket"]["PhysicalResourceId"]
    assert bucket.startswith("app-bucket-") and bucket == bucket.lower()
    s3.head_bucket(Bucket=bucket)
    summaries = cfn.list_stack_resources(StackName="app")["StackResourceSummaries"]
    assert {s["ResourceStatus"] for s in summaries} == {"CREATE_COMPLETE"}
    assert cfn.get_template(StackName="app")["TemplateBody"] == SMALL  # as given, short forms and all

    history = events(cfn, "app")
    assert history[0] == ("app", "CREATE_IN_PROGRESS", "User Initiated")
    assert history[-1] == ("app", "CREATE_COMPLETE", "")
    assert history.index(("Role", "CREATE_COMPLETE", "")) < history.index(("Rule", "CREATE_IN_PROGRESS", ""))

    # An update with nothing changed is refused, as CloudFormation refuses it.
    assert error_of(cfn.update_stack, StackName="app", UsePreviousTemplate=True, Capabilities=NAMED_IAM) == (
        "ValidationError",
        "No updates are to be performed.",
    )
    # A parameter change updates the rule in place.
    cfn.update_stack(
        StackName="app",
        UsePreviousTemplate=True,
        Parameters=[
            {"ParameterKey": "Schedule", "ParameterValue": "rate(2 hours)"},
            {"ParameterKey": "Env", "UsePreviousValue": True},
            {"ParameterKey": "Token", "UsePreviousValue": True},
        ],
        Capabilities=NAMED_IAM,
    )
    assert wait(cfn, "app")["StackStatus"] == "UPDATE_COMPLETE"
    assert events_client.describe_rule(Name=rule_name)["ScheduleExpression"] == "rate(2 hours)"
    assert ("Rule", "UPDATE_COMPLETE", "") in events(cfn, "app")
    assert ("Role", "UPDATE_IN_PROGRESS", "") not in events(cfn, "app")  # unchanged: left alone

    cfn.delete_stack(StackName="app")
    assert wait(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert error_of(cfn.describe_stacks, StackName="app") == ("ValidationError", "Stack with id app does not exist")
    assert error_of(iam.get_role, RoleName="app-events")[0] == "NoSuchEntity"
    assert error_of(s3.head_bucket, Bucket=bucket)[0] == "404"
    assert error_of(events_client.describe_rule, Name=rule_name)[0] == "ResourceNotFoundException"
    cfn.delete_stack(StackName="app")  # deleting what is gone is no error


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([{"ParameterKey": "Env", "ParameterValue": "staging"}], "Parameter 'Env' must be one of AllowedValues"),
        (
            [{"ParameterKey": "Name", "ParameterValue": "Bad_Name"}],
            "Parameter 'Name' must match pattern ^[a-z][a-z0-9-]{1,30}$",
        ),
        ([{"ParameterKey": "Count", "ParameterValue": "0"}], "Parameter 'Count' must be a number not less than 1"),
        ([{"ParameterKey": "Count", "ParameterValue": "many"}], "Parameter 'Count' must be a number."),
        ([{"ParameterKey": "Nope", "ParameterValue": "x"}], "Parameters: [Nope] do not exist in the template"),
    ],
)
def test_parameters_are_checked_as_cloudformation_checks_them(client, parameters, message):
    template = textwrap.dedent(
        """
        Parameters:
          Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
          Name: {Type: String, Default: app, AllowedPattern: "^[a-z][a-z0-9-]{1,30}$"}
          Count: {Type: Number, Default: 1, MinValue: 1}
        Resources:
          Bucket: {Type: AWS::S3::Bucket}
        """
    )
    cfn = client("cloudformation")
    assert error_of(cfn.create_stack, StackName="p", TemplateBody=template, Parameters=parameters) == (
        "ValidationError",
        message,
    )
    assert error_of(cfn.describe_stacks, StackName="p")[1] == "Stack with id p does not exist"


def test_template_errors_are_refused_before_anything_is_created(client):
    cfn = client("cloudformation")
    required = "Parameters:\n  Bucket: {Type: String}\nResources:\n  B: {Type: AWS::S3::Bucket}\n"
    assert (
        error_of(cfn.create_stack, StackName="t", TemplateBody=required)[1] == "Parameters: [Bucket] must have values"
    )
    cycle = textwrap.dedent(
        """
        Resources:
          A: {Type: AWS::S3::Bucket, DependsOn: B}
          B: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub "${A}-b"}}
        """
    )
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=cycle) == (
        "ValidationError",
        "Circular dependency between resources: [A, B]",
    )
    unknown = "Resources:\n  X: {Type: AWS::Nope::Thing}\n"
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=unknown)[1] == (
        "Template format error: Unrecognized resource types: [AWS::Nope::Thing]"
    )
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=SMALL) == (
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_NAMED_IAM]",
    )
    assert error_of(cfn.create_stack, StackName="t", TemplateBody="Resources:\n  B: 7\n")[1] == (
        "Template format error: [/Resources/B] Every Resources object must contain a Type member."
    )
    twice = "Resources:\n  B: {Type: AWS::S3::Bucket}\n  B: {Type: AWS::IAM::Role}\n"
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=twice)[1].startswith(
        "Template format error: duplicate key 'B'"
    )
    malformed = "Resources:\n  B: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub [1, 2]}}\n"
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=malformed)[1] == (
        "Template format error: malformed intrinsic function arguments"
    )
    assert (
        "failed to satisfy constraint" in error_of(cfn.create_stack, StackName="no_underscores", TemplateBody=SMALL)[1]
    )
    assert error_of(cfn.create_stack, StackName="t", TemplateBody=SMALL, EnableTerminationProtection=True) == (
        "ValidationError",
        "EnableTerminationProtection is not supported locally (localcloud)",
    )
    validated = cfn.validate_template(TemplateBody=SMALL)
    assert validated["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert [p["ParameterKey"] for p in validated["Parameters"]] == ["Env", "Token", "Schedule"]
    assert cfn.describe_stacks()["Stacks"] == []


def _rollback_template(bad: str) -> str:
    return textwrap.dedent(
        """
        Resources:
          First:
            Type: AWS::IAM::Role
            Properties:
              RoleName: rollback-first
              AssumeRolePolicyDocument:
                Version: "2012-10-17"
                Statement: [{Effect: Allow, Principal: {Service: sagemaker.amazonaws.com}, Action: sts:AssumeRole}]
        """
    ) + textwrap.indent(textwrap.dedent(bad), "  ")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            """
            Function:
              Type: AWS::Lambda::Function
              DependsOn: First
              Properties: {Role: arn:aws:iam::000000000000:role/x, Code: {ZipFile: x}}
            """,
            "Resource type AWS::Lambda::Function is not supported locally (localcloud)",
        ),
        (
            """
            Function:
              Type: AWS::S3::Bucket
              DependsOn: First
              Properties: {Foo: bar}
            """,
            "Encountered unsupported property Foo",
        ),
        (
            """
            Function:
              Type: AWS::IAM::Role
              DependsOn: First
              Properties:
                AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
                ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
            """,
            "Property ManagedPolicyArns of AWS::IAM::Role is not supported locally (localcloud)",
        ),
        (
            """
            Function:
              Type: AWS::Events::Rule
              DependsOn: First
              Properties:
                ScheduleExpression: rate(5 minutes)
                Targets: [{Id: warmer, Arn: "arn:aws:lambda:us-east-1:000000000000:function:f:live"}]
            """,
            "Target warmer: arn:aws:lambda:us-east-1:000000000000:function:f:live is not supported locally",
        ),
    ],
    ids=["unsupported-type", "unknown-property", "unemulated-property", "lambda-target"],
)
def test_a_failed_resource_rolls_the_stack_back_naming_it(client, bad, reason):
    cfn, iam = client("cloudformation"), client("iam")
    cfn.create_stack(StackName="rb", TemplateBody=_rollback_template(bad), Capabilities=NAMED_IAM)
    stack = wait(cfn, "rb")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    history = events(cfn, "rb")
    failed = [e for e in history if e[1] == "CREATE_FAILED"]
    assert len(failed) == 1 and failed[0][0] == "Function" and failed[0][2].startswith(reason)
    assert (
        "rb",
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [Function]. Rollback requested by user.",
    ) in history
    assert ("First", "DELETE_COMPLETE", "") in history  # what was created is deleted
    assert error_of(iam.get_role, RoleName="rollback-first")[0] == "NoSuchEntity"
    assert error_of(cfn.update_stack, StackName="rb", UsePreviousTemplate=True, Capabilities=NAMED_IAM)[1] == (
        f"Stack:{stack['StackId']} is in ROLLBACK_COMPLETE state and can not be updated."
    )


def test_metric_math_alarm_fails_naming_what_cloudwatch_refuses(client):
    template = textwrap.dedent(
        """
        Resources:
          Idle:
            Type: AWS::CloudWatch::Alarm
            Properties:
              ComparisonOperator: LessThanOrEqualToThreshold
              Threshold: 0
              EvaluationPeriods: 1
              Metrics:
                - Id: m1
                  ReturnData: false
                  MetricStat: {Metric: {Namespace: AWS/SageMaker, MetricName: Invocations}, Period: 60, Stat: Sum}
                - {Id: e1, Expression: "FILL(m1, 0)", ReturnData: true}
        """
    )
    cfn = client("cloudformation")
    cfn.create_stack(StackName="mm", TemplateBody=template)
    assert wait(cfn, "mm")["StackStatus"] == "ROLLBACK_COMPLETE"
    (failed,) = [e for e in events(cfn, "mm") if e[1] == "CREATE_FAILED"]
    assert failed[0] == "Idle" and "Metrics" in failed[2]


def test_a_failed_update_rolls_back_to_the_previous_stack(client):
    cfn, events_client = client("cloudformation"), client("events")
    cfn.create_stack(StackName="up", TemplateBody=SMALL, Capabilities=NAMED_IAM)
    before = wait(cfn, "up")
    broken = SMALL.replace(
        "  Bucket:\n    Type: AWS::S3::Bucket\n",
        "  Bucket:\n    Type: AWS::S3::Bucket\n  Api:\n    Type: AWS::ApiGateway::RestApi\n    DependsOn: Rule\n",
    ).replace("rate(1 hour)", "rate(3 hours)")
    cfn.update_stack(StackName="up", TemplateBody=broken, Capabilities=NAMED_IAM)
    after = wait(cfn, "up")
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    history = events(cfn, "up")
    assert (
        "Api",
        "CREATE_FAILED",
        "Resource type AWS::ApiGateway::RestApi is not supported locally (localcloud)",
    ) in history
    assert ("up", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Api]. ") in history
    rule = {o["OutputKey"]: o["OutputValue"] for o in before["Outputs"]}["RuleName"]
    assert events_client.describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 hour)"  # rolled back
    assert after["Outputs"] == before["Outputs"]
    assert "AWS::ApiGateway::RestApi" not in cfn.get_template(StackName="up")["TemplateBody"]
    assert {r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName="up")["StackResources"]} == {
        "Role",
        "Rule",
        "Bucket",
    }
    # The stack can be updated again after the rollback.
    cfn.update_stack(
        StackName="up", TemplateBody=SMALL.replace("rate(1 hour)", "rate(4 hours)"), Capabilities=NAMED_IAM
    )
    assert wait(cfn, "up")["StackStatus"] == "UPDATE_COMPLETE"


def test_a_restarted_localcloud_keeps_the_stack(tmp_path):
    import boto3
    from botocore.config import Config as BotoConfig

    def cfn_of(server):
        return boto3.client(
            "cloudformation",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
        )

    server = start_server(tmp_path / "mlgw")
    try:
        cfn = cfn_of(server)
        cfn.create_stack(StackName="kept", TemplateBody=SMALL, Capabilities=NAMED_IAM)
        before = wait(cfn, "kept")
    finally:
        server.stop()
    server = start_server(tmp_path / "mlgw")
    try:
        cfn = cfn_of(server)
        after = cfn.describe_stacks(StackName="kept")["Stacks"][0]
        assert after == before
        assert events(cfn, "kept")[-1] == ("kept", "CREATE_COMPLETE", "")
        assert error_of(cfn.create_stack, StackName="kept", TemplateBody=SMALL, Capabilities=NAMED_IAM) == (
            "AlreadyExistsException",
            "Stack [kept] already exists",
        )
    finally:
        server.stop()


def supported_subset() -> str:
    """infra/ml-gateway.yaml with only the resources localcloud emulates (and whatever they
    reference), their properties as the template has them, and the outputs of those."""
    template = load(TEMPLATE)
    graph = dependencies(template)
    keep = {name for name, r in template["Resources"].items() if r["Type"] in HANDLERS}
    while any(not graph[name] <= keep for name in keep):
        keep = {name for name in keep if graph[name] <= keep}
    template["Resources"] = {k: v for k, v in template["Resources"].items() if k in keep}
    outputs = {}
    for key, spec in template["Outputs"].items():
        text = json.dumps(spec["Value"])
        if not any(f'"{name}' in text or f"${{{name}" in text for name in set(graph) - keep):
            outputs[key] = spec
    template["Outputs"] = outputs
    return json.dumps(template)


def test_the_templates_supported_resources_are_created_in_their_services(client):
    """The real template's IAM roles, bucket, key, log groups, repository, model package group,
    retrain rule and drift alarm, with their real properties (another ProjectName, so the
    names are not the local account's starting roles)."""
    cfn = client("cloudformation")
    body = supported_subset()
    assert "AWS::IAM::Role" in body and "AWS::CloudWatch::Alarm" in body and "AWS::ApiGateway" not in body
    parameters = [
        {"ParameterKey": "ProjectName", "ParameterValue": "cfn-test"},
        {"ParameterKey": "ModelPackageGroupName", "ParameterValue": "CfnTestGroup"},
        {"ParameterKey": "LambdaCodeBucket", "ParameterValue": "code-bucket"},
        {"ParameterKey": "DriftFeature2", "ParameterValue": "customer_age"},
    ]
    cfn.create_stack(StackName="infra", TemplateBody=body, Parameters=parameters, Capabilities=NAMED_IAM)
    stack = wait(cfn, "infra")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "infra")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ArtifactBucketName"] == "cfn-test-artifacts-000000000000-us-east-1"
    assert outputs["SageMakerExecutionRoleArn"] == "arn:aws:iam::000000000000:role/cfn-test-sagemaker-execution"
    assert outputs["ProcessingImageRepositoryUri"] == "000000000000.dkr.ecr.us-east-1.amazonaws.com/cfn-test-processing"
    assert (
        outputs["ModelPackageGroupArn"] == "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/cfntestgroup"
    )
    key_id = outputs["ArtifactKeyArn"].rsplit("/", 1)[1]
    assert outputs["ArtifactKeyArn"] == f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"

    iam = client("iam")
    policy = iam.get_role_policy(RoleName="cfn-test-sagemaker-execution", PolicyName="pipeline")["PolicyDocument"]
    statements = {s.get("Sid"): s for s in policy["Statement"]}
    assert statements["ArtifactBucketList"]["Resource"] == "arn:aws:s3:::cfn-test-artifacts-000000000000-us-east-1"
    client("s3").head_bucket(Bucket=outputs["ArtifactBucketName"])
    group = client("sagemaker").describe_model_package_group(ModelPackageGroupName="CfnTestGroup")
    assert group["ModelPackageGroupArn"] == outputs["ModelPackageGroupArn"]
    events_client = client("events")
    (target,) = events_client.list_targets_by_rule(Rule="cfn-test-drift-retrain")["Targets"]
    assert target["RoleArn"] == outputs["RetrainRoleArn"]
    parameters_sent = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert (
        parameters_sent["ClaimsInputUri"] == "s3://cfn-test-artifacts-000000000000-us-east-1/ml-gateway/landing/claims/"
    )
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="ml-gateway-drift-")["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {"ml-gateway-drift-total_claim_amount", "ml-gateway-drift-customer_age"}
    assert {a["Threshold"] for a in alarms} == {0.1}  # the Number parameter, as a number


def test_the_whole_template_fails_naming_the_first_type_localcloud_does_not_emulate(client):
    cfn = client("cloudformation")
    cfn.create_stack(
        StackName="ml-gateway",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": "LambdaCodeBucket", "ParameterValue": "code-bucket"}],
        Capabilities=NAMED_IAM,
    )
    stack = wait(cfn, "ml-gateway")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    (failed,) = [e for e in events(cfn, "ml-gateway") if e[1] == "CREATE_FAILED"]
    resource_type = load(TEMPLATE)["Resources"][failed[0]]["Type"]
    assert resource_type not in HANDLERS
    assert failed[2] == f"Resource type {resource_type} is not supported locally (localcloud)"


def test_a_stack_takes_over_a_starting_role_and_gives_it_back(client):
    """localcloud's account starts with the template's roles (localcloud/iam); a stack that
    declares one of them takes it over with its own policies instead of failing as "already
    exists", and deleting the stack gives IAM's role back."""
    iam, cfn = client("iam"), client("cloudformation")
    starting = iam.list_role_policies(RoleName="ml-gateway-retrain-events")["PolicyNames"]
    assert starting == ["start-pipeline"]
    template = textwrap.dedent(
        """
        Resources:
          RetrainRole:
            Type: AWS::IAM::Role
            Properties:
              RoleName: ml-gateway-retrain-events
              AssumeRolePolicyDocument:
                Version: "2012-10-17"
                Statement: [{Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sts:AssumeRole}]
              Policies:
                - PolicyName: other
                  PolicyDocument:
                    Version: "2012-10-17"
                    Statement: [{Effect: Allow, Action: s3:ListBucket, Resource: "*"}]
        """
    )
    cfn.create_stack(StackName="takeover", TemplateBody=template, Capabilities=NAMED_IAM)
    assert wait(cfn, "takeover")["StackStatus"] == "CREATE_COMPLETE"
    assert iam.list_role_policies(RoleName="ml-gateway-retrain-events")["PolicyNames"] == ["other"]
    cfn.delete_stack(StackName="takeover")
    assert (
        wait(cfn, cfn.describe_stacks(StackName="takeover")["Stacks"][0]["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    )
    assert iam.list_role_policies(RoleName="ml-gateway-retrain-events")["PolicyNames"] == ["start-pipeline"]
    # A role that is not a starting role still collides, as on AWS.
    clash = template.replace("ml-gateway-retrain-events", "mine")
    iam.create_role(RoleName="mine", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    cfn.create_stack(StackName="clash", TemplateBody=clash, Capabilities=NAMED_IAM)
    assert wait(cfn, "clash")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert (
        "RetrainRole",
        "CREATE_FAILED",
        "Resource of type 'AWS::IAM::Role' with identifier 'mine' already exists.",
    ) in events(cfn, "clash")
    assert iam.get_role(RoleName="mine")["Role"]["RoleName"] == "mine"  # not deleted by the rollback


def test_mlgw_localcloud_apply_prints_events_and_outputs_and_fails_naming_the_resource(localcloud, tmp_path, capsys):
    import argparse

    from mlgw.commands.stack import apply

    template = tmp_path / "small.yaml"
    template.write_text(SMALL)
    args = argparse.Namespace(template=str(template), stack_name="cli", param=["Schedule=rate(6 hours)"])
    assert apply(args, localcloud.cloud.config) == 0
    out = capsys.readouterr().out
    assert "creating stack cli from" in out
    assert "Role" in out and "CREATE_COMPLETE" in out
    assert re.search(r"^RoleArn +arn:aws:iam::000000000000:role/cli-events$", out, re.M)
    assert apply(args, localcloud.cloud.config) == 0  # the same again: nothing to do
    assert "stack cli: no changes (CREATE_COMPLETE)" in capsys.readouterr().out

    template.write_text(
        SMALL.replace(
            "  Bucket:\n    Type: AWS::S3::Bucket\n", "  Bucket:\n    Type: AWS::S3::Bucket\n    Properties: {Foo: 1}\n"
        )
    )
    assert apply(args, localcloud.cloud.config) == 1
    out = capsys.readouterr().out
    assert "stack cli UPDATE_ROLLBACK_COMPLETE" in out
    assert "  failed: Bucket (AWS::S3::Bucket): Encountered unsupported property Foo" in out


def test_changing_a_create_only_property_replaces_the_resource(client):
    cfn = client("cloudformation")
    template = (
        "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n"
        "    Properties: {LogGroupName: /app/one, RetentionInDays: 7}\n"
    )
    cfn.create_stack(StackName="rep", TemplateBody=template)
    assert wait(cfn, "rep")["StackStatus"] == "CREATE_COMPLETE"
    cfn.update_stack(StackName="rep", TemplateBody=template.replace("RetentionInDays: 7", "RetentionInDays: 14"))
    assert wait(cfn, "rep")["StackStatus"] == "UPDATE_COMPLETE"  # in place
    cfn.update_stack(StackName="rep", TemplateBody=template.replace("/app/one", "/app/two"))
    assert wait(cfn, "rep")["StackStatus"] == "UPDATE_COMPLETE"
    history = events(cfn, "rep")
    assert (
        "Logs",
        "UPDATE_IN_PROGRESS",
        "Requested update requires the creation of a new physical resource; hence creating one.",
    ) in history
    assert history[-4:] == [
        ("rep", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""),
        ("Logs", "DELETE_IN_PROGRESS", ""),  # the old group, /app/one
        ("Logs", "DELETE_COMPLETE", ""),
        ("rep", "UPDATE_COMPLETE", ""),
    ]
    (resource,) = cfn.describe_stack_resources(StackName="rep")["StackResources"]
    assert resource["PhysicalResourceId"] == "/app/two"
    # The old group is gone: another stack may take its name; the new one is taken.
    cfn.create_stack(StackName="other", TemplateBody=template)
    assert wait(cfn, "other")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(StackName="third", TemplateBody=template.replace("/app/one", "/app/two"))
    assert wait(cfn, "third")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert (
        "Logs",
        "CREATE_FAILED",
        "Resource of type 'AWS::Logs::LogGroup' with identifier '/app/two' already exists.",
    ) in events(cfn, "third")


def test_what_localcloud_does_not_emulate_in_a_template_is_refused(client):
    cfn = client("cloudformation")
    sam = "Transform: AWS::Serverless-2016-10-31\nResources:\n  B: {Type: AWS::S3::Bucket}\n"
    assert error_of(cfn.create_stack, StackName="x", TemplateBody=sam)[1] == (
        "Template section Transform is not supported locally (localcloud)"
    )
    waited = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    CreationPolicy: {ResourceSignal: {Count: 1}}\n"
    cfn.create_stack(StackName="x", TemplateBody=waited)
    assert wait(cfn, "x")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert ("B", "CREATE_FAILED", "Resource attribute CreationPolicy is not supported locally (localcloud)") in events(
        cfn, "x"
    )


def test_a_stack_interrupted_by_a_stop_ends_failed_when_localcloud_starts_again(tmp_path):
    from localcloud.cloud import LocalCloud
    from localcloud.config import Config

    config = Config(home=tmp_path / "mlgw", port=0)
    cloud = LocalCloud(config)
    stack_id = cloud.cloudformation.create_stack("cut", SMALL, capabilities=NAMED_IAM, wait=True)
    stack = cloud.state.get("cfn-stack", stack_id)
    stack.update({"StackStatus": "UPDATE_IN_PROGRESS", "_Worker": 2**22 + 1})  # no such process
    cloud.state.put("cfn-stack", stack_id, stack)
    restarted = LocalCloud(config)
    (found,) = restarted.cloudformation.describe_stacks("cut")
    assert found["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    assert found["StackStatusReason"] == "localcloud stopped while the stack operation was in progress"


def test_mlgw_stack_shows_status_events_outputs_and_deletes(localcloud, client, monkeypatch, capsys):
    from mlgw import cli
    from mlgw.commands import stack as stack_command

    monkeypatch.setattr(stack_command, "running", lambda config: localcloud.cloud.config)
    cfn = client("cloudformation")
    assert cli.main(["stack", "status", "--stack-name", "shown"]) == 2  # a CliError
    assert "no stack shown in localcloud" in capsys.readouterr().err
    cfn.create_stack(StackName="shown", TemplateBody=SMALL, Capabilities=NAMED_IAM)
    wait(cfn, "shown")
    assert cli.main(["stack", "status", "--stack-name", "shown"]) == 0
    assert capsys.readouterr().out.startswith("shown  CREATE_COMPLETE\nstack id  arn:aws:cloudformation:")
    assert cli.main(["stack", "events", "--stack-name", "shown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "User Initiated" in lines[0] and lines[-1].split()[-3:] == [
        "shown",
        "AWS::CloudFormation::Stack",
        "CREATE_COMPLETE",
    ]
    assert cli.main(["stack", "outputs", "--stack-name", "shown"]) == 0
    assert re.search(r"^RuleName +shown-Rule-", capsys.readouterr().out, re.M)
    assert cli.main(["stack", "delete", "--stack-name", "shown"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "stack shown DELETE_COMPLETE"
    assert cli.main(["localcloud", "status", "--param", "A=1"]) == 2
    assert "apply to `mlgw localcloud apply`" in capsys.readouterr().err


def test_describe_stacks_shows_the_operation_in_progress(tmp_path, monkeypatch):
    """CreateStack answers at once; the stack and the resource being created are
    CREATE_IN_PROGRESS until the work ends (the handler is held here to look)."""
    import threading

    from localcloud.cloud import LocalCloud
    from localcloud.cloudformation import handlers
    from localcloud.config import Config

    release, started = threading.Event(), threading.Event()
    real_create = handlers.S3Bucket.create

    def held(self, ctx, props):
        started.set()
        assert release.wait(10)
        return real_create(self, ctx, props)

    monkeypatch.setattr(handlers.S3Bucket, "create", held)
    cloud = LocalCloud(Config(home=tmp_path / "mlgw", port=0))
    stack_id = cloud.cloudformation.create_stack("slow", "Resources:\n  B: {Type: AWS::S3::Bucket}\n")
    assert started.wait(10)
    assert cloud.cloudformation.describe_stacks("slow")[0]["StackStatus"] == "CREATE_IN_PROGRESS"
    (resource,) = cloud.cloudformation.resources("slow")
    assert resource["ResourceStatus"] == "CREATE_IN_PROGRESS"
    release.set()
    cloud.cloudformation.wait(stack_id, 10)
    assert cloud.cloudformation.describe_stacks("slow")[0]["StackStatus"] == "CREATE_COMPLETE"
