"""The CloudFormation query API (form-encoded `Action=...`, XML answers): the wire only.

Requests are decoded and answers encoded from botocore's `cloudformation` service model
(the query protocol: lists as `Name.member.N`, maps as `Name.entry.N.key/value`; answers in
`<{Action}Response><{Action}Result>` with lists of `<member>` elements,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/Welcome.html); input is
validated against the model (ValidationError). State and semantics are in models.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from localcloud.cloudformation.exceptions import ValidationError
from localcloud.errors import AwsError, InvalidAction
from localcloud.protocol import Request, Response, query_error
from localcloud.shapes import validate_input

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
Params = dict[str, Any]


def handle(cloud: LocalCloud, request: Request) -> Response:
    """Answer one CloudFormation query request."""
    flat = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    flat.update({k: v[0] for k, v in request.query.items()})
    action = flat.get("Action", "")
    handler = ACTIONS.get(action)
    if handler is None:
        return query_error(InvalidAction(f"localcloud does not implement cloudformation:{action}"), request.request_id)
    operation = _model().operation_model(action)
    try:
        params = (_decode(operation.input_shape, flat, "") if operation.input_shape else None) or {}
        try:
            validate_input(operation, params)
        except AwsError as error:
            raise ValidationError(error.message) from None
        unsupported = sorted(set(params) - SUPPORTED_PARAMETERS.get(action, set(params)))
        if unsupported:  # refused, never ignored: each changes what AWS would do
            raise ValidationError(f"{unsupported[0]} is not supported locally (localcloud)")
        result = handler(cloud, params)
    except AwsError as error:
        error.message = _xml_safe(error.message)  # it may echo input: XML 1.0 has no \x00
        return query_error(error, request.request_id)
    inner = _encode_members(operation.output_shape, result) if operation.output_shape else ""
    body = (
        f'<{action}Response xmlns="{_NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request.request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return Response(200, body.encode(), {"Content-Type": "text/xml"})


@cache
def _model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("cloudformation")


def operation_model(action: str) -> OperationModel:
    return _model().operation_model(action)


# -- the query protocol ----------------------------------------------------------------------------


def _decode(shape: Shape, flat: dict[str, str], prefix: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = f"{prefix}{name}"
            value = (
                _decode(member, flat, key + ".") if member.type_name in ("structure", "list", "map") else flat.get(key)
            )
            if value is not None and value != {} and value != []:
                out[name] = value if member.type_name in ("structure", "list", "map") else _scalar(member, value)
        return out or None
    if kind == "list":
        items = []
        index = 1
        base = prefix + "member."
        while True:
            key = f"{base}{index}"
            member = shape.member
            if member.type_name in ("structure", "list", "map"):
                value = _decode(member, flat, key + ".")
                if value is None:
                    break
            elif key in flat:
                value = _scalar(member, flat[key])
            else:
                break
            items.append(value)
            index += 1
        if not items and prefix.rstrip(".") in flat:  # `Name=` : an empty list
            return []
        return items or None
    if kind == "map":
        out = {}
        index = 1
        while f"{prefix}entry.{index}.key" in flat:
            out[flat[f"{prefix}entry.{index}.key"]] = flat.get(f"{prefix}entry.{index}.value", "")
            index += 1
        return out or None
    return None


def _scalar(shape: Shape, value: str) -> Any:
    if shape.type_name == "boolean":
        return value.lower() == "true"
    if shape.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise ValidationError(f"Invalid value '{value}' for an integer parameter") from None
    return value


def _encode_members(shape: Shape, value: dict[str, Any]) -> str:
    out = []
    for name, member in shape.members.items():
        if value.get(name) is None:
            continue
        out.append(f"<{name}>{_encode(member, value[name])}</{name}>")
    return "".join(out)


def _encode(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return _encode_members(shape, value)
    if kind == "list":
        return "".join(f"<member>{_encode(shape.member, v)}</member>" for v in value)
    if kind == "map":
        return "".join(
            f"<entry><key>{escape(str(k))}</key><value>{escape(str(v))}</value></entry>" for k, v in value.items()
        )
    if kind == "boolean":
        return "true" if value else "false"
    return escape(_xml_safe(str(value)))


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    """text without the characters XML 1.0 cannot carry (each replaced by U+FFFD)."""
    return _NOT_XML.sub("\ufffd", text)


# -- actions -----------------------------------------------------------------------------------------


def _body(params: Params) -> str | None:
    if "TemplateURL" in params:
        raise ValidationError("TemplateURL is not supported locally (localcloud): pass TemplateBody")
    return params.get("TemplateBody")


def create_stack(cloud: LocalCloud, params: Params) -> Params:
    body = _body(params)
    if body is None:
        raise ValidationError("Either Template URL or Template Body must be specified.")
    if params.get("OnFailure") and "DisableRollback" in params:
        raise ValidationError("You can specify either DisableRollback or OnFailure, but not both.")
    stack_id = cloud.cloudformation.create_stack(
        params["StackName"],
        body,
        params.get("Parameters"),
        params.get("Capabilities"),
        params.get("OnFailure"),
        bool(params.get("DisableRollback")),
        params.get("Tags"),
    )
    return {"StackId": stack_id}


def update_stack(cloud: LocalCloud, params: Params) -> Params:
    body = _body(params)
    if body is None and not params.get("UsePreviousTemplate"):
        raise ValidationError("Either Template URL or Template Body must be specified.")
    if body is not None and params.get("UsePreviousTemplate"):
        raise ValidationError("You cannot specify both usePreviousTemplate and Template Body/Template URL.")
    stack_id = cloud.cloudformation.update_stack(
        params["StackName"], body, params.get("Parameters"), params.get("Capabilities")
    )
    return {"StackId": stack_id}


def delete_stack(cloud: LocalCloud, params: Params) -> Params:
    cloud.cloudformation.delete_stack(params["StackName"], params.get("RetainResources"))
    return {}


def describe_stacks(cloud: LocalCloud, params: Params) -> Params:
    return {"Stacks": cloud.cloudformation.describe_stacks(params.get("StackName"))}


def describe_stack_events(cloud: LocalCloud, params: Params) -> Params:
    return {"StackEvents": cloud.cloudformation.events(params["StackName"])}


def describe_stack_resources(cloud: LocalCloud, params: Params) -> Params:
    if "StackName" not in params:
        raise ValidationError(
            "StackName is required locally (localcloud): PhysicalResourceId lookups are not supported"
        )
    return {"StackResources": cloud.cloudformation.resources(params["StackName"], params.get("LogicalResourceId"))}


def describe_stack_resource(cloud: LocalCloud, params: Params) -> Params:
    found = cloud.cloudformation.resources(params["StackName"], params["LogicalResourceId"])
    if not found:
        raise ValidationError(f"Resource {params['LogicalResourceId']} does not exist for stack {params['StackName']}")
    return {"StackResourceDetail": found[0]}


def list_stack_resources(cloud: LocalCloud, params: Params) -> Params:
    summaries = [
        {
            k: r[k]
            for k in (
                "LogicalResourceId",
                "PhysicalResourceId",
                "ResourceType",
                "LastUpdatedTimestamp",
                "ResourceStatus",
                "ResourceStatusReason",
            )
            if k in r
        }
        for r in cloud.cloudformation.resources(params["StackName"])
    ]
    return {"StackResourceSummaries": summaries}


def get_template(cloud: LocalCloud, params: Params) -> Params:
    if "StackName" not in params:
        raise ValidationError("StackName is required locally (localcloud): change sets are not supported")
    return {
        "TemplateBody": cloud.cloudformation.template_body(params["StackName"]),
        "StagesAvailable": ["Original", "Processed"],
    }


def validate_template(cloud: LocalCloud, params: Params) -> Params:
    body = _body(params)
    if body is None:
        raise ValidationError("Either Template URL or Template Body must be specified.")
    return cloud.cloudformation.validate_template(body)


# The request parameters each action acts on; any other one is refused naming it.
_STACK_INPUT = {"StackName", "TemplateBody", "TemplateURL", "Parameters", "Capabilities", "ClientRequestToken"}
SUPPORTED_PARAMETERS: dict[str, set[str]] = {
    "CreateStack": _STACK_INPUT | {"OnFailure", "DisableRollback", "Tags"},
    "UpdateStack": _STACK_INPUT | {"UsePreviousTemplate"},
    "DeleteStack": {"StackName", "RetainResources", "ClientRequestToken"},
    "DescribeStacks": {"StackName"},
    "DescribeStackEvents": {"StackName"},
    "DescribeStackResources": {"StackName", "LogicalResourceId"},
    "DescribeStackResource": {"StackName", "LogicalResourceId"},
    "ListStackResources": {"StackName"},
    "GetTemplate": {"StackName", "TemplateStage"},
    "ValidateTemplate": {"TemplateBody", "TemplateURL"},
}

ACTIONS: dict[str, Callable[[LocalCloud, Params], Params]] = {
    "CreateStack": create_stack,
    "UpdateStack": update_stack,
    "DeleteStack": delete_stack,
    "DescribeStacks": describe_stacks,
    "DescribeStackEvents": describe_stack_events,
    "DescribeStackResources": describe_stack_resources,
    "DescribeStackResource": describe_stack_resource,
    "ListStackResources": list_stack_resources,
    "GetTemplate": get_template,
    "ValidateTemplate": validate_template,
}
