"""The IAM and STS query APIs (form-encoded `Action=...`, XML answers): the wire only.

IAM's subset: roles, inline role policies and SimulatePrincipalPolicy, in IAM's XML shapes
(https://docs.aws.amazon.com/IAM/latest/APIReference/); state and decisions are in models.py.
STS's: GetCallerIdentity (https://docs.aws.amazon.com/STS/latest/APIReference/). Each IAM
handler takes the request's flat query parameters and returns the inner XML of
<{Action}Result>; `handle` validates the parameters against botocore's model, wraps the result
in <{Action}Response> and renders errors in the query protocol's shape: InvalidAction for an
unknown action, ValidationError for input the model refuses, the classes of exceptions.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ServiceModel

from localcloud.errors import AwsError, InvalidAction
from localcloud.iam.exceptions import ValidationError
from localcloud.protocol import Request, Response, query_error
from localcloud.shapes import validate_input

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def handle(cloud: LocalCloud, request: Request) -> Response:
    """Answer one STS or IAM query request (the signing name says which)."""
    params = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items()})
    action = params.get("Action", "")
    handler: Callable[[LocalCloud, dict[str, str]], str] | None
    if request.service == "sts":
        handler = (lambda c, p: _caller_identity(c, request)) if action == "GetCallerIdentity" else None
    else:
        handler = ACTIONS.get(action)
    if handler is None:
        return query_error(
            InvalidAction(f"localcloud does not implement {request.service}:{action}"), request.request_id
        )
    try:
        _validate(request.service, action, params)
        result = handler(cloud, params)
    except AwsError as error:
        return query_error(error, request.request_id)
    ns = _NS[request.service]
    body = (
        f'<{action}Response xmlns="{ns}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request.request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return Response(200, body.encode(), {"Content-Type": "text/xml"})


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _validate(service: str, action: str, params: dict[str, str]) -> None:
    """The service model's constraints on the query parameters (lists arrive flattened as
    `Name.member.N`); the query protocols name the failure ValidationError."""
    operation = _model(service).operation_model(action)
    members = operation.input_shape.members if operation.input_shape else {}
    shaped: dict[str, Any] = {}
    for name, shape in members.items():
        if shape.type_name == "list" and shape.member.type_name == "string":
            # Only `Name.member.N` itself: a list of structures flattens to deeper keys
            # (ContextEntries.member.1.ContextKeyValues.member.1), checked by the operation.
            prefix = f"{name}.member."
            items = sorted(
                (int(k[len(prefix) :]), v)
                for k, v in params.items()
                if k.startswith(prefix) and k[len(prefix) :].isdigit()
            )
            if items:
                shaped[name] = [v for _, v in items]
        elif name in params and shape.type_name == "string":
            shaped[name] = params[name]
    try:
        validate_input(operation, shaped)
    except AwsError as error:
        raise ValidationError(error.message) from None


def _caller_identity(cloud: LocalCloud, request: Request) -> str:
    account = cloud.config.account_id
    arn = f"arn:aws:iam::{account}:user/localcloud"
    if request.principal:  # a role session: STS names it assumed-role/<role>/<session>
        role = request.principal.rsplit("/", 1)[-1]
        arn = f"arn:aws:sts::{account}:assumed-role/{role}/localcloud"
    key = request.access_key or cloud.config.access_key
    return f"<Arn>{arn}</Arn><UserId>{key}</UserId><Account>{account}</Account>"


# -- IAM actions ----------------------------------------------------------------------------


def members(params: dict[str, str], prefix: str) -> list[str]:
    """Values of a query-protocol list: prefix.member.1, prefix.member.2, ... in order."""
    found = []
    for key, value in params.items():
        if key.startswith(f"{prefix}.member.") and key[len(prefix) + 8 :].isdigit():
            found.append((int(key[len(prefix) + 8 :]), value))
    return [value for _, value in sorted(found)]


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise ValidationError(
            f"1 validation error detected: Value at '{name[0].lower()}"
            f"{name[1:]}' failed to satisfy constraint: Member must "
            f"not be null"
        )
    return value


def _role_xml(doc: dict[str, Any]) -> str:
    # IAM returns policy documents URL-encoded (RFC 3986).
    trust = quote(json.dumps(doc["AssumeRolePolicyDocument"]), safe="")
    return (
        f"<Role><Path>{escape(doc['Path'])}</Path><RoleName>{escape(doc['RoleName'])}</RoleName>"
        f"<RoleId>{doc['RoleId']}</RoleId><Arn>{escape(doc['Arn'])}</Arn>"
        f"<CreateDate>{doc['CreateDate']}</CreateDate>"
        f"<AssumeRolePolicyDocument>{trust}</AssumeRolePolicyDocument>"
        f"<MaxSessionDuration>3600</MaxSessionDuration></Role>"
    )


def get_role(cloud: LocalCloud, params: dict[str, str]) -> str:
    return _role_xml(cloud.iam.get_role(_required(params, "RoleName")))


def create_role(cloud: LocalCloud, params: dict[str, str]) -> str:
    doc = cloud.iam.create_role(
        _required(params, "RoleName"), _required(params, "AssumeRolePolicyDocument"), params.get("Path", "/")
    )
    return _role_xml(doc)


def put_role_policy(cloud: LocalCloud, params: dict[str, str]) -> str:
    cloud.iam.put_role_policy(
        _required(params, "RoleName"), _required(params, "PolicyName"), _required(params, "PolicyDocument")
    )
    return ""


def get_role_policy(cloud: LocalCloud, params: dict[str, str]) -> str:
    role, name = _required(params, "RoleName"), _required(params, "PolicyName")
    document = quote(json.dumps(cloud.iam.get_role_policy(role, name)), safe="")
    return (
        f"<RoleName>{escape(role)}</RoleName><PolicyName>{escape(name)}</PolicyName>"
        f"<PolicyDocument>{document}</PolicyDocument>"
    )


def list_role_policies(cloud: LocalCloud, params: dict[str, str]) -> str:
    names = "".join(
        f"<member>{escape(n)}</member>" for n in cloud.iam.get_role(_required(params, "RoleName"))["Policies"]
    )
    return f"<PolicyNames>{names}</PolicyNames><IsTruncated>false</IsTruncated>"


def delete_role_policy(cloud: LocalCloud, params: dict[str, str]) -> str:
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


def simulate_principal_policy(cloud: LocalCloud, params: dict[str, str]) -> str:
    """Decisions from the principal's real policies (models.IamBackend.simulate)."""
    source = _required(params, "PolicySourceArn")
    results = cloud.iam.simulate(
        source,
        members(params, "ActionNames"),
        members(params, "ResourceArns"),
        _context(params),
        members(params, "PolicyInputList"),
    )
    out = []
    for action, resource, decision in results:
        matched = "".join(
            f"<member><SourcePolicyId>{escape(name)}</SourcePolicyId>"
            f"<SourcePolicyType>IAM Policy</SourcePolicyType></member>"
            for name, _sid in decision.matched
        )
        missing = "".join(f"<member>{escape(key)}</member>" for key in decision.missing_context)
        out.append(
            f"<member><EvalActionName>{escape(action)}</EvalActionName>"
            f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
            f"<EvalDecision>{decision.decision}</EvalDecision>"
            f"<MatchedStatements>{matched}</MatchedStatements>"
            f"<MissingContextValues>{missing}</MissingContextValues></member>"
        )
    return f"<EvaluationResults>{''.join(out)}</EvaluationResults><IsTruncated>false</IsTruncated>"


ACTIONS: dict[str, Callable[[LocalCloud, dict[str, str]], str]] = {
    "GetRole": get_role,
    "CreateRole": create_role,
    "PutRolePolicy": put_role_policy,
    "GetRolePolicy": get_role_policy,
    "ListRolePolicies": list_role_policies,
    "DeleteRolePolicy": delete_role_policy,
    "SimulatePrincipalPolicy": simulate_principal_policy,
}
