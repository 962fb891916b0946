"""The STS and IAM calls the SageMaker SDK makes before it builds a pipeline (query protocol)."""
from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session

from localcloud.errors import AwsError
from localcloud.protocol import Request, Response, query_error
from localcloud.shapes import validate_input

_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def handle(cloud, request: Request) -> Response:
    from urllib.parse import parse_qs
    params = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items()})
    action = params.get("Action", "")
    operation = _ACTIONS.get((request.service, action))
    if operation is None:
        return query_error(AwsError("InvalidAction", f"localcloud does not implement "
                                                     f"{request.service}:{action}"), request.request_id)
    try:
        _validate(request.service, action, params)
        result = operation(cloud, params)
    except AwsError as error:
        return query_error(error, request.request_id)
    ns = _NS[request.service]
    body = (f'<{action}Response xmlns="{ns}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{request.request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>")
    return Response(200, body.encode(), {"Content-Type": "text/xml"})


@cache
def _model(service: str):
    return botocore.session.get_session().get_service_model(service)


def _validate(service: str, action: str, params: dict[str, str]) -> None:
    """The service model's constraints on the query parameters (lists arrive flattened as
    `Name.member.N`); the query protocols name the failure ValidationError."""
    operation = _model(service).operation_model(action)
    members = operation.input_shape.members if operation.input_shape else {}
    shaped: dict[str, Any] = {}
    for name, shape in members.items():
        if shape.type_name == "list":
            items = sorted(((int(k.rsplit(".", 1)[1]), v) for k in params
                            if k.startswith(f"{name}.member.") and k.rsplit(".", 1)[1].isdigit()
                            for v in [params[k]]))
            if items:
                shaped[name] = [v for _, v in items]
        elif name in params and shape.type_name == "string":
            shaped[name] = params[name]
    try:
        validate_input(operation, shaped)
    except AwsError as error:
        raise AwsError("ValidationError", error.message) from None


def _caller_identity(cloud, params) -> str:
    account = cloud.config.account_id
    return (f"<Arn>arn:aws:iam::{account}:user/localcloud</Arn><UserId>{cloud.config.access_key}"
            f"</UserId><Account>{account}</Account>")


def _get_role(cloud, params) -> str:
    # Any role name is accepted locally: there is no IAM to enforce it.
    name = params["RoleName"]   # checked against the model's pattern by _validate
    account = cloud.config.account_id
    return (f"<Role><Path>/</Path><RoleName>{name}</RoleName><RoleId>AROALOCAL{abs(hash(name)) % 10**8}"
            f"</RoleId><Arn>arn:aws:iam::{account}:role/{name}</Arn>"
            f"<CreateDate>2024-01-01T00:00:00Z</CreateDate>"
            f"<AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument></Role>")


def _simulate_principal_policy(cloud, params) -> str:
    # The SDK asks whether the role may use the default bucket. Locally nothing is enforced,
    # so every action on every resource is "allowed" — the honest answer for this machine.
    from xml.sax.saxutils import escape
    actions = [v for k, v in sorted(params.items()) if k.startswith("ActionNames.member.")]
    resources = [v for k, v in sorted(params.items()) if k.startswith("ResourceArns.member.")] or ["*"]
    members = "".join(
        f"<member><EvalActionName>{escape(action)}</EvalActionName>"
        f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
        f"<EvalDecision>allowed</EvalDecision><MatchedStatements/><MissingContextValues/></member>"
        for action in actions for resource in resources)
    return f"<EvaluationResults>{members}</EvaluationResults><IsTruncated>false</IsTruncated>"


_ACTIONS = {("sts", "GetCallerIdentity"): _caller_identity, ("iam", "GetRole"): _get_role,
            ("iam", "SimulatePrincipalPolicy"): _simulate_principal_policy}
