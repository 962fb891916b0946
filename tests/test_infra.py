"""Static checks on the CloudFormation in infra/: cfn-lint, plus the properties the rest of the
project relies on (the retrain event pattern, least privilege, the gateway wiring).

No AWS, no network: templates are parsed with cfn-lint's own loader (it understands !Ref/!Sub).
A moto `create_stack` test is not included: moto's CloudFormation backend imports
openapi_spec_validator (not in this environment) and does not model most of these resource
types (SageMaker ModelPackageGroup, API Gateway Stage/UsagePlan, Application Auto Scaling)
anyway, so it would test moto, not the template.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))
MAIN = INFRA / "ml-gateway.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")

# Actions that AWS only authorises on Resource "*" (no resource-level permissions).
# Each is explained where it is granted in infra/ml-gateway.yaml.
STAR_RESOURCE_EXCEPTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",  # registry login token, no resource type
        "cloudwatch:PutMetricData",  # no resource type; narrowed by cloudwatch:namespace instead
        # Deploy moves an autoscaled variant's scalable target (opaque-id ARN, none before it exists)
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
    }
)
READ_ONLY_VERBS = ("Get", "List", "Describe", "BatchGet", "Head")


def load(path: Path) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert template is not None, f"{path} does not parse: {matches}"
    return template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(MAIN)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_statements(template: dict[str, Any]):
    """(where, statement) for every identity-policy statement: role inline policies and
    standalone policies. Key and bucket policies are resource policies, where "*" means
    "this key / bucket" - not checked here."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            docs = [(f"{name}/{p['PolicyName']}", p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [(name, props["PolicyDocument"])]
        else:
            continue
        for where, doc in docs:
            for statement in as_list(doc["Statement"]):
                if "Fn::If" in statement:  # a conditional statement: either branch that is one
                    branches = statement["Fn::If"][1:]
                    yield from ((where, b) for b in branches if isinstance(b, dict) and "Effect" in b)
                else:
                    yield where, statement


def test_templates_exist():
    assert MAIN in TEMPLATES


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path: Path):
    result = subprocess.run([str(CFN_LINT), "--", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"cfn-lint {path.name}:\n{result.stdout}{result.stderr}"


def test_retrain_rule_embeds_the_monitoring_pattern(template):
    expected = json.loads((ROOT / "mlgw" / "retrain_rule.json").read_text())
    rules = [r for r in resources_of(template, "AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    assert len(rules) == 1
    # Round-trip through JSON: cfn-lint's node classes compare as plain dicts/lists/strings.
    assert json.loads(json.dumps(rules[0]["Properties"]["EventPattern"])) == expected


def test_retrain_rule_targets_the_pipeline(template):
    rule = next(r for r in resources_of(template, "AWS::Events::Rule").values() if "EventPattern" in r["Properties"])
    (target,) = rule["Properties"]["Targets"]
    assert ":pipeline/${PipelineArnName}" in target["Arn"]["Fn::Sub"]
    params = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert params["DeployStrategy"] == {"Ref": "RetrainDeployStrategy"}
    assert template["Parameters"]["RetrainDeployStrategy"]["Default"] == "canary"
    assert {"ClaimsInputUri", "CustomersInputUri", "NewVariantWeight", "EndpointName"} <= set(params)
    role = template["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [s["Action"] for s in statements] == ["sagemaker:StartPipelineExecution"]
    # The retrain target, and DriftCheck for the schedule Deploy creates with this role.
    assert as_list(statements[0]["Resource"]) == [
        target["Arn"],
        {
            "Fn::Sub": (
                "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/${DriftCheckPipelineArnName}"
            )
        },
    ]


def test_no_write_action_on_star_resource(template):
    offenders = []
    for where, statement in iam_statements(template):
        if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
            continue
        for action in as_list(statement["Action"]):
            verb = action.split(":", 1)[1]
            if action in STAR_RESOURCE_EXCEPTIONS:
                continue
            if "*" in action or not verb.startswith(READ_ONLY_VERBS):
                offenders.append(f"{where}: {action}")
    assert not offenders, "write actions on Resource '*': " + ", ".join(offenders)


def test_no_service_wide_action_wildcards(template):
    for where, statement in iam_statements(template):
        for action in as_list(statement["Action"]):
            assert not action.endswith(":*") and action != "*", f"{where}: {action}"


def test_direct_integration_calls_sagemaker_runtime(template):
    method = template["Resources"]["DirectMethod"]["Properties"]
    integration = method["Integration"]
    assert integration["Type"] == "AWS"
    uri = integration["Uri"]["Fn::Sub"]
    assert uri.endswith(":apigateway:${AWS::Region}:runtime.sagemaker:path//endpoints/${EndpointName}/invocations")
    assert "$input.json('$.features')" in integration["RequestTemplates"]["application/json"]
    assert integration["Credentials"] == {"Fn::GetAtt": ["DirectIntegrationRole", "Arn"]}


def test_both_methods_require_an_api_key_and_validate_the_body(template):
    methods = resources_of(template, "AWS::ApiGateway::Method")
    assert set(methods) == {"PredictMethod", "DirectMethod"}
    for name, method in methods.items():
        props = method["Properties"]
        assert props["HttpMethod"] == "POST"
        assert props["ApiKeyRequired"] is True, name
        assert "RequestValidatorId" in props and "application/json" in props["RequestModels"], name
    assert methods["PredictMethod"]["Properties"]["Integration"]["Type"] == "AWS_PROXY"


def test_usage_plan_throttles_and_has_a_daily_quota(template):
    (plan,) = resources_of(template, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Quota"]["Period"] == "DAY"
    assert set(plan["Properties"]["Throttle"]) == {"RateLimit", "BurstLimit"}
    assert resources_of(template, "AWS::ApiGateway::UsagePlanKey")
    assert template["Parameters"]["StageName"]["Default"] == "v1"


def test_idle_scale_in_alarm_fills_missing_invocations(template):
    alarm = template["Resources"]["IdleAlarm"]
    assert alarm["Condition"] == "AutoScalingEnabled"
    metrics = alarm["Properties"]["Metrics"]
    expressions = [m["Expression"] for m in metrics if "Expression" in m]
    assert any(e.replace(" ", "").startswith("FILL(m1,0") for e in expressions), expressions
    stat = next(m for m in metrics if m["Id"] == "m1")["MetricStat"]["Metric"]
    assert (stat["Namespace"], stat["MetricName"]) == ("AWS/SageMaker", "Invocations")
    assert {d["Name"] for d in stat["Dimensions"]} == {"EndpointName", "VariantName"}
    assert alarm["Properties"]["TreatMissingData"] == "breaching"
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": "IdleScaleInPolicy"}]
    policy = template["Resources"]["IdleScaleInPolicy"]["Properties"]
    assert policy["PolicyType"] == "StepScaling"


def test_autoscaling_is_conditional(template):
    for kind in ("AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"):
        for name, res in resources_of(template, kind).items():
            assert res.get("Condition") == "AutoScalingEnabled", name
    target = template["Resources"]["EndpointScalableTarget"]["Properties"]
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["ScheduledActions"]
    tracking = template["Resources"]["InvocationsTargetTracking"]["Properties"]
    spec = tracking["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_lambda_handler_matches_the_zip_layout(template):
    fn = template["Resources"]["GatewayFunction"]["Properties"]
    assert fn["Runtime"] == "python3.11"
    module, _, function = fn["Handler"].rpartition(".")
    assert (module, function) == ("inference.gateway_handler", "handler")
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
    assert set(fn["Environment"]["Variables"]) == {"ENDPOINT_NAME", "CLAIMS_FEATURE_GROUP", "CUSTOMERS_FEATURE_GROUP"}
    assert fn["Code"] == {"S3Bucket": {"Ref": "LambdaCodeBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}}
    alias = template["Resources"]["GatewayAlias"]["Properties"]
    assert "ProvisionedConcurrencyConfig" in alias


def _runtime_boto3(folder: Path) -> Path:
    """A folder holding only boto3 and what it needs (as the python3.11 Lambda runtime ships
    them), linked from this environment."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    todo = ["boto3"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".pth")) or top == "..":
                continue
            source = Path(dist.locate_file(top))
            if not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def test_the_lambda_zip_imports_on_its_own(tmp_path, template):
    """`mlgw build lambda` (infra/README.md step 2) builds a zip whose handler imports with
    nothing but the zip and the runtime's boto3 on its path, as Lambda starts it. The zip built
    by the guide's old hand-written command lacked processing/contract.py and schema.json:
    every cold start failed with ImportError."""
    from mlgw import lambda_package

    package = lambda_package.build(tmp_path / "build")
    fn = template["Resources"]["GatewayFunction"]["Properties"]
    assert package.handler == fn["Handler"]
    assert {"processing/contract.py", "processing/schema.json"} <= set(package.files)
    again = lambda_package.build(tmp_path / "again")
    assert again.sha256 == package.sha256, "the same sources must give the same zip"
    module, _, function = package.handler.rpartition(".")
    runtime = _runtime_boto3(tmp_path / "runtime")
    probe = (
        f"import sys; sys.path[:0] = [{str(package.path)!r}, {str(runtime)!r}]; "
        f"import {module} as m; assert callable(m.{function}); "
        f"assert m.__file__.startswith({str(package.path)!r}), m.__file__; "
        f"print(m.__file__)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        **{name: "x" for name in fn["Environment"]["Variables"]},
    }
    # -I: no PYTHONPATH, no user site; -S: no site-packages. Run from an empty folder.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert str(package.path) in done.stdout


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A property with !Ref / !Sub of template parameters replaced by their defaults."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]["Default"]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, spec in parameters.items():
            text = text.replace("${" + name + "}", str(spec.get("Default", "")))
        return text
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, parameters) for k, v in value.items()}
    return value


def test_drift_alarm_is_the_one_made_locally(template):
    """The template's alarm, at its defaults, is exactly the one `mlgw` makes on localcloud:
    Model Monitor's metric with the dimensions DriftCheck publishes, named for the retrain
    rule's prefix, missing data not breaching."""
    from mlgw.monitor_schedule import ALARM_PREFIX, AlarmSpec

    alarm = json.loads(json.dumps(template["Resources"]["DriftAlarm"]["Properties"]))
    alarm.pop("AlarmActions")
    resolved = _resolve(alarm, template["Parameters"])
    resolved["Threshold"] = float(resolved["Threshold"])
    assert resolved == AlarmSpec("ml-gateway-fraud", "total_claim_amount").request()
    pattern = json.loads((ROOT / "mlgw" / "retrain_rule.json").read_text())
    assert pattern["detail"]["alarmName"] == [{"prefix": ALARM_PREFIX}]
    assert resolved["AlarmName"].startswith(ALARM_PREFIX)
    second = template["Resources"]["DriftAlarm2"]
    assert second["Condition"] == "HasDriftFeature2"
    assert second["Properties"]["AlarmName"] == {"Fn::Sub": "ml-gateway-drift-${DriftFeature2}"}


def test_deploy_may_schedule_the_drift_check(template):
    """The execution role (Deploy's job) may write only its endpoint's drift-check rule and
    pass only the events role; DriftCheck's job may publish metrics in Model Monitor's
    namespace."""
    statements = {
        s.get("Sid"): s for where, s in iam_statements(template) if where.startswith("SageMakerExecutionRole/")
    }
    schedule = statements["DriftCheckSchedule"]
    assert set(schedule["Action"]) == {"events:PutRule", "events:PutTargets"}  # all it calls
    assert schedule["Resource"]["Fn::Sub"].endswith(":rule/${EndpointName}-drift-check")
    passing = statements["PassEventsRoleToSchedule"]
    assert passing["Resource"] == {"Fn::GetAtt": ["RetrainRole", "Arn"]}
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == "events.amazonaws.com"
    metrics = statements["MetricsRequireStar"]
    assert "aws/sagemaker/*" in metrics["Condition"]["StringLike"]["cloudwatch:namespace"]


def test_artifact_bucket_is_encrypted_private_and_tls_only(template):
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (deny,) = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
