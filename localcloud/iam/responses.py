"""The IAM query API subset localcloud serves: roles, inline role policies and
SimulatePrincipalPolicy, in IAM's XML shapes (https://docs.aws.amazon.com/IAM/latest/APIReference/).

Each handler takes the request's flat query parameters and returns the inner XML of
<{Action}Result>; identity.py wraps it and renders errors."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from localcloud.errors import AwsError


def members(params: dict[str, str], prefix: str) -> list[str]:
    """Values of a query-protocol list: prefix.member.1, prefix.member.2, ... in order."""
    found = []
    for key, value in params.items():
        if key.startswith(f"{prefix}.member.") and key[len(prefix) + 8:].isdigit():
            found.append((int(key[len(prefix) + 8:]), value))
    return [value for _, value in sorted(found)]


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise AwsError("ValidationError", f"1 validation error detected: Value at '{name[0].lower()}"
                                          f"{name[1:]}' failed to satisfy constraint: Member must "
                                          f"not be null")
    return value


def _role_xml(doc: dict[str, Any]) -> str:
    # IAM returns policy documents URL-encoded (RFC 3986).
    trust = quote(json.dumps(doc["AssumeRolePolicyDocument"]), safe="")
    return (f"<Role><Path>{escape(doc['Path'])}</Path><RoleName>{escape(doc['RoleName'])}</RoleName>"
            f"<RoleId>{doc['RoleId']}</RoleId><Arn>{escape(doc['Arn'])}</Arn>"
            f"<CreateDate>{doc['CreateDate']}</CreateDate>"
            f"<AssumeRolePolicyDocument>{trust}</AssumeRolePolicyDocument>"
            f"<MaxSessionDuration>3600</MaxSessionDuration></Role>")


def get_role(cloud, params: dict[str, str]) -> str:
    return _role_xml(cloud.iam.get_role(_required(params, "RoleName")))


def create_role(cloud, params: dict[str, str]) -> str:
    doc = cloud.iam.create_role(_required(params, "RoleName"),
                                _required(params, "AssumeRolePolicyDocument"), params.get("Path", "/"))
    return _role_xml(doc)


def put_role_policy(cloud, params: dict[str, str]) -> str:
    cloud.iam.put_role_policy(_required(params, "RoleName"), _required(params, "PolicyName"),
                              _required(params, "PolicyDocument"))
    return ""


def get_role_policy(cloud, params: dict[str, str]) -> str:
    role, name = _required(params, "RoleName"), _required(params, "PolicyName")
    document = quote(json.dumps(cloud.iam.get_role_policy(role, name)), safe="")
    return (f"<RoleName>{escape(role)}</RoleName><PolicyName>{escape(name)}</PolicyName>"
            f"<PolicyDocument>{document}</PolicyDocument>")


def list_role_policies(cloud, params: dict[str, str]) -> str:
    names = "".join(f"<member>{escape(n)}</member>"
                    for n in cloud.iam.get_role(_required(params, "RoleName"))["Policies"])
    return f"<PolicyNames>{names}</PolicyNames><IsTruncated>false</IsTruncated>"


def delete_role_policy(cloud, params: dict[str, str]) -> str:
    cloud.iam.delete_role_policy(_required(params, "RoleName"), _required(params, "PolicyName"))
    return ""


def _context(params: dict[str, str]) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    index = 1
    while f"ContextEntries.member.{index}.ContextKeyName" in params:
        base = f"ContextEntries.member.{index}"
        context[params[f"{base}.ContextKeyName"]] = members(params, f"{base}.ContextKeyValues")
        index += 1
    return context


def simulate_principal_policy(cloud, params: dict[str, str]) -> str:
    """Decisions from the principal's real policies (models.IamBackend.simulate)."""
    source = _required(params, "PolicySourceArn")
    results = cloud.iam.simulate(source, members(params, "ActionNames"),
                                 members(params, "ResourceArns"), _context(params),
                                 members(params, "PolicyInputList"))
    out = []
    for action, resource, decision in results:
        matched = "".join(f"<member><SourcePolicyId>{escape(name)}</SourcePolicyId>"
                          f"<SourcePolicyType>IAM Policy</SourcePolicyType></member>"
                          for name, _sid in decision.matched)
        missing = "".join(f"<member>{escape(key)}</member>" for key in decision.missing_context)
        out.append(f"<member><EvalActionName>{escape(action)}</EvalActionName>"
                   f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
                   f"<EvalDecision>{decision.decision}</EvalDecision>"
                   f"<MatchedStatements>{matched}</MatchedStatements>"
                   f"<MissingContextValues>{missing}</MissingContextValues></member>")
    return f"<EvaluationResults>{''.join(out)}</EvaluationResults><IsTruncated>false</IsTruncated>"


ACTIONS = {"GetRole": get_role, "CreateRole": create_role, "PutRolePolicy": put_role_policy,
           "GetRolePolicy": get_role_policy, "ListRolePolicies": list_role_policies,
           "DeleteRolePolicy": delete_role_policy,
           "SimulatePrincipalPolicy": simulate_principal_policy}
