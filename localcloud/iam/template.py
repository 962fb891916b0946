"""The IAM roles of infra/ml-gateway.yaml as CloudFormation would create them in the local account.

`template_roles(config)` reads the template, resolves the intrinsic functions the roles use with
the parameters' defaults (CloudFormation's resolver, localcloud/cloudformation/template.py: one
copy of the template language), and returns each AWS::IAM::Role with its trust policy and inline
policies as concrete JSON documents: the local account's starting roles (IamBackend), until a
stack applied by localcloud's CloudFormation takes them over (IamBackend.adopt_starting_role).

Physical names: where CloudFormation would resolve `!Ref X` / `!GetAtt X.Arn` to the name of a
resource it created, the local stack uses the resource localcloud really has. The one that
differs from the template's own naming is the artifact bucket: on AWS the pipeline's default
bucket IS ArtifactBucket (`--default-bucket <ArtifactBucketName>`, infra/README.md), and
locally the default bucket is the SageMaker SDK's `sagemaker-<region>-<account>`, so
ArtifactBucket resolves to that name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The template language lives in CloudFormation's folder; IAM reads the template through it
# (an allowed import, .importlinter): re-exported for the callers that read roles.
from localcloud.cloudformation.template import TEMPLATE, Resolver, TemplateError, load

__all__ = [
    "TEMPLATE",
    "Resolver",
    "RoleSpec",
    "TemplateError",
    "load",
    "local_physical_ids",
    "role_arn",
    "template_roles",
]


@dataclass
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # inline name -> document


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
