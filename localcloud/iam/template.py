"""The IAM roles of infra/ml-gateway.yaml as CloudFormation would create them in the local account.

`template_roles(config)` reads the template, resolves the intrinsic functions the roles use
(Ref, Fn::Sub, Fn::GetAtt, Fn::Select, Fn::Split, Fn::Join, Fn::If, pseudo parameters) with the
parameters' defaults, and returns each AWS::IAM::Role with its trust policy and inline policies
as concrete JSON documents.

Physical names: where CloudFormation would resolve `!Ref X` / `!GetAtt X.Arn` to the name of a
resource it created, the local stack uses the resource localcloud really has. The one that
differs from the template's own naming is the artifact bucket: on AWS the pipeline's default
bucket IS ArtifactBucket (`--default-bucket <ArtifactBucketName>`, infra/README.md), and
locally the default bucket is the SageMaker SDK's `sagemaker-<region>-<account>`, so
ArtifactBucket resolves to that name here.

The YAML loader is four lines over PyYAML instead of cfn-lint's decoder: cfn-lint takes seconds
to import and this runs when localcloud first answers an IAM call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "ml-gateway.yaml"


class TemplateError(Exception):
    """The template uses something this resolver does not understand (never guessed)."""


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as a dict, short-form tags turned into their Fn:: long forms."""
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # inline name -> document


_NO_VALUE = object()


class Resolver:
    """Resolves intrinsic functions against parameters and the local stack's physical ids."""

    def __init__(
        self,
        template: dict[str, Any],
        account: str,
        region: str,
        parameters: dict[str, Any] | None = None,
        physical_ids: dict[str, str] | None = None,
    ):
        self.template = template
        self.account, self.region = account, region
        self.params = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
        self.params.update(parameters or {})
        self.params.update(
            {
                "AWS::AccountId": account,
                "AWS::Region": region,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": "ml-gateway",
                "AWS::NoValue": _NO_VALUE,
            }
        )
        self.physical_ids = physical_ids or {}

    # -- names of resources -----------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        resource = self.template["Resources"].get(name)
        if resource is None:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        if name in self.physical_ids:
            return self.physical_ids[name]
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and "RoleName" not in props:
            # CloudFormation generates <stack>-<logical id>-<suffix>; the local stack's suffix.
            return f"{self.params['AWS::StackName']}-{name}-local"
        if resource["Type"] == "AWS::Lambda::Alias":  # Ref of an alias is its ARN
            function = self.resolve(props["FunctionName"])
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{function}:{props['Name']}"
        for key in (
            "RoleName",
            "BucketName",
            "RepositoryName",
            "FunctionName",
            "LogGroupName",
            "ModelPackageGroupName",
            "Name",
        ):
            if key in props:
                return self.resolve(props[key])
        return f"{name}-local"  # a generated physical id (keys, APIs): stable and unique

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.template["Resources"].get(name)
        if resource is None:
            raise TemplateError(f"!GetAtt {name}.{attribute}: no such resource")
        kind, physical = resource["Type"], self.ref(name)
        a, r = self.account, self.region
        arns = {
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{physical}",
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{a}:role/{physical}",
            ("AWS::KMS::Key", "Arn"): f"arn:aws:kms:{r}:{a}:key/{physical}",
            ("AWS::ECR::Repository", "Arn"): f"arn:aws:ecr:{r}:{a}:repository/{physical}",
            ("AWS::ECR::Repository", "RepositoryUri"): f"{a}.dkr.ecr.{r}.amazonaws.com/{physical}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{r}:{a}:log-group:{physical}:*",
            ("AWS::Lambda::Function", "Arn"): f"arn:aws:lambda:{r}:{a}:function:{physical}",
            (
                "AWS::SageMaker::ModelPackageGroup",
                "ModelPackageGroupArn",
            ): f"arn:aws:sagemaker:{r}:{a}:model-package-group/{str(physical).lower()}",
            ("AWS::Events::Rule", "Arn"): f"arn:aws:events:{r}:{a}:rule/{physical}",
            ("AWS::ApiGateway::RestApi", "RootResourceId"): f"{physical}-root",
            ("AWS::Lambda::Version", "Version"): "1",
        }
        try:
            return arns[(kind, attribute)]
        except KeyError:
            raise TemplateError(f"!GetAtt {name}.{attribute} ({kind}) is not resolved locally") from None

    # -- intrinsic functions ----------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
            if key == "Condition":
                return value
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([^}!][^}]*)\}", lambda m: str(self._sub_var(m.group(1), variables)), text)
        if name == "GetAtt":
            return self.get_att(arg[0], arg[1])
        if name == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if name == "Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if name == "Join":
            return arg[0].join(str(v) for v in self.resolve(arg[1]))
        if name == "If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        raise TemplateError(f"Fn::{name} is not resolved locally")

    def _sub_var(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
            return self.get_att(*name.split(".", 1))
        return self.ref(name)

    def condition(self, name: str) -> bool:
        return bool(self._condition_value(self.template.get("Conditions", {})[name]))

    def _condition_value(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return str(self._condition_value(arg[0])) == str(self._condition_value(arg[1]))
            if key == "Fn::Not":
                return not self._condition_value(arg[0])
            if key == "Fn::And":
                return all(self._condition_value(a) for a in arg)
            if key == "Fn::Or":
                return any(self._condition_value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)


def template_roles(
    account: str,
    region: str,
    *,
    path: Path = TEMPLATE,
    parameters: dict[str, Any] | None = None,
    physical_ids: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> list[RoleSpec]:
    """Every AWS::IAM::Role of the template (those whose Condition holds), resolved."""
    template = template if template is not None else load(path)
    resolver = Resolver(
        template,
        account,
        region,
        parameters,
        physical_ids if physical_ids is not None else local_physical_ids(account, region),
    )
    roles = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        props = resource.get("Properties", {})
        name = resolver.ref(logical_id)
        roles.append(
            RoleSpec(
                logical_id,
                name,
                f"arn:aws:iam::{account}:role/{name}",
                resolver.resolve(props["AssumeRolePolicyDocument"]),
                {p["PolicyName"]: resolver.resolve(p["PolicyDocument"]) for p in props.get("Policies", [])},
            )
        )
    return roles


def local_physical_ids(account: str, region: str) -> dict[str, str]:
    """The local stack's names for resources whose template name is not what localcloud uses."""
    return {"ArtifactBucket": f"sagemaker-{region}-{account}"}


def role_arn(logical_id: str, account: str, region: str) -> str:
    """The ARN of the template's role `logical_id` in the local account (e.g.
    SageMakerExecutionRole, GatewayLambdaRole, RetrainRole)."""
    for role in _roles(account, region):
        if role.logical_id == logical_id:
            return role.arn
    raise TemplateError(f"{TEMPLATE.name} has no IAM role {logical_id}")


def _roles(account: str, region: str) -> list[RoleSpec]:
    stamp = TEMPLATE.stat().st_mtime_ns
    cached = _CACHE.get((account, region))
    if cached is None or cached[0] != stamp:
        cached = _CACHE[(account, region)] = (stamp, template_roles(account, region))
    return cached[1]


_CACHE: dict[tuple[str, str], tuple[int, list[RoleSpec]]] = {}
