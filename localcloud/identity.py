"""The STS and IAM calls the SageMaker SDK makes before it builds a pipeline (query protocol)."""
from __future__ import annotations

from localcloud.errors import AwsError
from localcloud.protocol import Request, Response, query_error

_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def handle(cloud, request: Request) -> Response:
    from urllib.parse import parse_qs
    params = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items()})
    action = params.get("Action", "")
    try:
        result = _ACTIONS[(request.service, action)](cloud, params)
    except KeyError:
        return query_error(AwsError("InvalidAction", f"localcloud does not implement "
                                                     f"{request.service}:{action}"), request.request_id)
    except AwsError as error:
        return query_error(error, request.request_id)
    ns = _NS[request.service]
    body = (f'<{action}Response xmlns="{ns}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{request.request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>")
    return Response(200, body.encode(), {"Content-Type": "text/xml"})


def _caller_identity(cloud, params) -> str:
    account = cloud.config.account_id
    return (f"<Arn>arn:aws:iam::{account}:user/localcloud</Arn><UserId>{cloud.config.access_key}"
            f"</UserId><Account>{account}</Account>")


def _get_role(cloud, params) -> str:
    # Any role name is accepted locally: there is no IAM to enforce it.
    name = params.get("RoleName", "")
    if not name:
        raise AwsError("ValidationError", "RoleName is required")
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
