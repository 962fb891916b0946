"""Does infra/ml-gateway.yaml grant everything a recorded local run did, to the principal AWS
would use? The IAM conformance check behind tests/test_iam_conformance.py.

Inputs: the recorder's entries (recorder.py), each attributed to the principal whose
credentials signed it (a role session, or the local administrator) or to the role a service
used (a pipeline's steps, an EventBridge target); the template's roles (template.py).
Requirements:
  1. every recorded call (actions.py), by its principal;
  2. what services do with the roles they were handed (services.py), by those roles;
  3. what the template wires services to do with its roles (template_needs below): the Lambda
     function's logs, the direct integration's InvokeEndpoint, API Gateway's logging role, each
     EventBridge target's call;
  4. SSE-KMS key use for object reads and writes on encrypted buckets.
The administrator's own calls (the setup a person does by hand on AWS: uploading the input
CSVs, creating buckets) are not requirements of any role; a run that signs upsert/start with a
role's credentials (CodeBuild's on AWS) makes them that role's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from localcloud.iam import policy
from localcloud.iam.template import Resolver, RoleSpec, local_physical_ids
from tests.support.iam import actions, services
from tests.support.iam.services import Attributed

Need = actions.Need


@dataclass(frozen=True)
class Missing:
    principal: str
    action: str
    resource: str
    context: dict[str, str]
    why: str
    decision: str

    def __str__(self) -> str:
        context = f" with {self.context}" if self.context else ""
        return (
            f"{self.principal} may not {self.action} on {self.resource}{context} "
            f"({self.decision}); needed by {self.why}"
        )


@dataclass
class Report:
    checked: list[Attributed] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def principals(self) -> set[str]:
        return {item.principal for item in self.checked}


def template_needs(template: dict[str, Any], account: str, region: str) -> list[Attributed]:
    """Requirement 3: what the template's own wiring makes services do as its roles."""
    resolver = Resolver(template, account, region, physical_ids=local_physical_ids(account, region))
    found: list[Attributed] = []
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        kind = resource["Type"]
        if kind not in (
            "AWS::Lambda::Function",
            "AWS::ApiGateway::Method",
            "AWS::ApiGateway::Account",
            "AWS::Events::Rule",
        ):
            continue
        raw = resource.get("Properties", {})
        wanted = ("Role", "LoggingConfig", "FunctionName", "Integration", "CloudWatchRoleArn", "Name", "Targets")
        props = resolver.resolve({k: v for k, v in raw.items() if k in wanted})
        if kind == "AWS::Lambda::Function" and props.get("Role"):
            # AWSLambdaBasicExecutionRole's actions on the function's log group.
            group = (props.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{props['FunctionName']}"
            arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
            why = f"Lambda writes {logical_id}'s logs as its Role"
            found += [
                Attributed(props["Role"], Need("logs:CreateLogStream", f"{arn}:log-stream:x", (), why)),
                Attributed(props["Role"], Need("logs:PutLogEvents", f"{arn}:log-stream:x", (), why)),
            ]
        elif kind == "AWS::ApiGateway::Method":
            integration = props.get("Integration") or {}
            uri = str(integration.get("Uri", ""))
            if integration.get("Credentials") and ":runtime.sagemaker:path//endpoints/" in uri:
                endpoint = uri.split("/endpoints/", 1)[1].split("/", 1)[0]
                found.append(
                    Attributed(
                        integration["Credentials"],
                        Need(
                            "sagemaker:InvokeEndpoint",
                            f"arn:aws:sagemaker:{region}:{account}:endpoint/{endpoint.lower()}",
                            (),
                            f"API Gateway integration of {logical_id} calls the endpoint as its Credentials",
                        ),
                    )
                )
        elif kind == "AWS::ApiGateway::Account" and props.get("CloudWatchRoleArn"):
            # AmazonAPIGatewayPushToCloudWatchLogs: access logs and execution logs.
            why = "API Gateway writes stage logs as the account's CloudWatchRoleArn"
            for group_resource in template["Resources"].values():
                if group_resource["Type"] != "AWS::Logs::LogGroup":
                    continue
                group = resolver.resolve(group_resource["Properties"]["LogGroupName"])
                if not str(group).startswith("/aws/apigateway/"):
                    continue
                arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
                for action in ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"):
                    found.append(Attributed(props["CloudWatchRoleArn"], Need(action, f"{arn}:log-stream:x", (), why)))
                found.append(
                    Attributed(
                        props["CloudWatchRoleArn"], Need("logs:DescribeLogGroups", f"{arn}:log-stream:", (), why)
                    )
                )
        elif kind == "AWS::Events::Rule":
            found += services.event_targets({"Rule": props.get("Name"), "Targets": props.get("Targets", [])})
    found += _codebuild_needs(template, resolver, account, region)
    return found


# buildspec.yml's image build: `aws ecr describe-repositories / describe-images`, `docker login`
# (ecr:GetAuthorizationToken) and `docker push` (the layer-upload actions).
BUILDSPEC_ECR = (
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)


def _codebuild_needs(template: dict[str, Any], resolver: Resolver, account: str, region: str) -> list[Attributed]:
    """What buildspec.yml does as the CodeBuild role beyond upsert/start (which are recorded):
    build and push the processing image, and CodeBuild's own build logs."""
    roles = [
        resolver.get_att(logical_id, "Arn")
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and _trusts(r, "codebuild.amazonaws.com")
    ]
    found: list[Attributed] = []
    for role in roles:
        why = "buildspec.yml builds and pushes the processing image as the CodeBuild role"
        found.append(Attributed(role, Need("ecr:GetAuthorizationToken", "*", (), why)))
        stack = f"arn:aws:cloudformation:{region}:{account}:stack/{resolver.params['AWS::StackName']}/x"
        why_stack = "`mlgw pipeline upsert --target aws` reads the stack's Outputs as the CodeBuild role"
        found.append(Attributed(role, Need("cloudformation:DescribeStacks", stack, (), why_stack)))
        for logical_id, r in template["Resources"].items():
            if r["Type"] == "AWS::ECR::Repository":
                repo = resolver.get_att(logical_id, "Arn")
                found += [Attributed(role, Need(a, repo, (), why)) for a in BUILDSPEC_ECR]
            if r["Type"] == "AWS::CodeBuild::Project":
                name = resolver.ref(logical_id)
                arn = f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/{name}"
                why_logs = f"CodeBuild writes project {name}'s logs as its service role"
                found += [
                    Attributed(role, Need("logs:CreateLogGroup", arn, (), why_logs)),
                    Attributed(role, Need("logs:CreateLogStream", f"{arn}:log-stream:x", (), why_logs)),
                    Attributed(role, Need("logs:PutLogEvents", f"{arn}:log-stream:x", (), why_logs)),
                ]
    return found


def _trusts(role: dict[str, Any], service: str) -> bool:
    statements = role.get("Properties", {}).get("AssumeRolePolicyDocument", {}).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        services_ = (statement.get("Principal") or {}).get("Service", [])
        if service in (services_ if isinstance(services_, list) else [services_]):
            return True
    return False


def encrypted_buckets(template: dict[str, Any], account: str, region: str) -> dict[str, str]:
    """bucket name -> KMS key ARN, for the template's SSE-KMS buckets (local physical names)."""
    resolver = Resolver(template, account, region, physical_ids=local_physical_ids(account, region))
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        rules = (resource.get("Properties", {}).get("BucketEncryption") or {}).get(
            "ServerSideEncryptionConfiguration", []
        )
        for rule in rules:
            default = rule.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                found[str(resolver.ref(logical_id))] = str(resolver.resolve(default["KMSMasterKeyID"]))
    return found


def requirements(
    entries: Iterable[dict[str, Any]],
    template: dict[str, Any],
    account: str,
    region: str,
    admin: str,
    catalog_of: Callable[[str], dict[str, Any] | None] = lambda name: None,
) -> tuple[list[Attributed], list[str]]:
    """Every (principal, need) the run implies, and the calls no table maps."""
    found: list[Attributed] = []
    unmapped: list[str] = []
    for entry in entries:
        principal = entry["principal"]
        try:
            needs = actions.needs(entry, account, region)
        except actions.Unmapped as exc:
            unmapped.append(f"{principal}: {exc}")
            continue
        if principal != admin:
            found += [Attributed(principal, n) for n in needs]
        operation, params = _operation(entry)
        if operation:
            found += services.derived(principal, operation, params, account, region, catalog_of)
    found += template_needs(template, account, region)
    found = services.with_kms(found, encrypted_buckets(template, account, region))
    return list(dict.fromkeys(found)), unmapped


def _operation(entry: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    if entry["kind"] == "call":
        return entry["operation"], entry["params"]
    target = entry.get("target") or ""
    if target and entry["body"].strip().startswith("{"):
        import json

        return target.rsplit(".", 1)[-1], json.loads(entry["body"])
    return None, {}


def check(required: Iterable[Attributed], roles: Iterable[RoleSpec]) -> Report:
    """Evaluate each requirement against its principal's policies in the template."""
    by_arn = {role.arn: role for role in roles}
    report = Report()
    for item in required:
        report.checked.append(item)
        role = by_arn.get(item.principal)
        need = item.need
        if role is None:
            report.missing.append(
                Missing(
                    item.principal or "(no role)",
                    need.action,
                    need.resource,
                    need.context_dict,
                    f"{need.why} (no such role in the template)",
                    "no such role",
                )
            )
            continue
        decision = policy.evaluate(role.policies, need.action, need.resource, need.context_dict)
        if not decision.allowed:
            report.missing.append(
                Missing(item.principal, need.action, need.resource, need.context_dict, need.why, decision.decision)
            )
    return report
