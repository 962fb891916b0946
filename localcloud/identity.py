"""The STS and IAM query-protocol front: STS here, IAM's operations in localcloud/iam/."""
from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session

from localcloud.errors import AwsError, InvalidAction
from localcloud.protocol import Request, Response, query_error
from localcloud.shapes import validate_input

_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def handle(cloud, request: Request) -> Response:
    from urllib.parse import parse_qs
    from localcloud.iam.responses import ACTIONS as IAM_ACTIONS
    params = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items()})
    action = params.get("Action", "")
    if request.service == "sts":
        handler = (lambda c, p: _caller_identity(c, request)) if action == "GetCallerIdentity" else None
    else:
        handler = IAM_ACTIONS.get(action)
    if handler is None:
        return query_error(InvalidAction(f"localcloud does not implement "
                                                     f"{request.service}:{action}"), request.request_id)
    try:
        _validate(request.service, action, params)
        result = handler(cloud, params)
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
        if shape.type_name == "list" and shape.member.type_name == "string":
            # Only `Name.member.N` itself: a list of structures flattens to deeper keys
            # (ContextEntries.member.1.ContextKeyValues.member.1), checked by the operation.
            prefix = f"{name}.member."
            items = sorted((int(k[len(prefix):]), v) for k, v in params.items()
                           if k.startswith(prefix) and k[len(prefix):].isdigit())
            if items:
                shaped[name] = [v for _, v in items]
        elif name in params and shape.type_name == "string":
            shaped[name] = params[name]
    try:
        validate_input(operation, shaped)
    except AwsError as error:
        raise AwsError("ValidationError", error.message) from None  # TRANSITION: iam.exceptions


def _caller_identity(cloud, request: Request) -> str:
    account = cloud.config.account_id
    arn = f"arn:aws:iam::{account}:user/localcloud"
    if request.principal:   # a role session: STS names it assumed-role/<role>/<session>
        role = request.principal.rsplit("/", 1)[-1]
        arn = f"arn:aws:sts::{account}:assumed-role/{role}/localcloud"
    key = request.access_key or cloud.config.access_key
    return f"<Arn>{arn}</Arn><UserId>{key}</UserId><Account>{account}</Account>"
