"""The gateway's wire: its routes (stage v1), each with its request schema and the integration
behind it; the request body's parsing and validation; the rendering of every answer.

- POST /v1/predict         Lambda proxy integration: a REST proxy event, handed to the gateway
                           function run from its zip in an execution environment of its own
                           (function.py), as API Gateway invokes it.
- POST /v1/predict/direct  direct AWS integration (the mapping-template case): JSON features →
                           the endpoint's CSV input (the contract's feature order) → InvokeEndpoint.
- GET  /v1/health, /v1/openapi.json, /metrics: the gateway's own.

The request schemas are the data contract's (processing.contract: predict_request_model,
direct_request_model), the same JSON the API Gateway models in infra/ml-gateway.yaml hold, and
validated as API Gateway does (JSON Schema draft 4). `build_routes()` reads the active contract.

Every answer the gateway makes itself is `{"message": ...}` with its status, as API Gateway's
gateway responses are: `error_response` renders the errors of localcloud/apigateway/exceptions.py.
An integration's answer is passed on (Lambda proxy) or mapped by status (DIRECT_ERRORS).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match

from localcloud.apigateway.exceptions import (
    BadJson,
    BadRequestBody,
    IntegrationFailure,
    IntegrationTimeout,
    IntegrationUnavailable,
    KeyRefusal,
)
from localcloud.errors import AwsError
from processing import contract as contracts

if TYPE_CHECKING:
    from localcloud.apigateway.server import GatewayServer

log = logging.getLogger("ml_gateway.apigateway")

STAGE = "v1"

# API Gateway's payload size quota for REST APIs, 10 MB, not adjustable
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); a larger request is
# refused with the REQUEST_TOO_LARGE gateway response: 413 "Request Too Long"
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
MAX_PAYLOAD = 10 * 1024 * 1024


@dataclass
class ApiRequest:
    """A request that passed the gateway's checks, as an integration receives it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    payload: Any  # the parsed JSON body (routes with a schema), else None
    request_id: str
    source_ip: str
    key_id: str | None


@dataclass
class ApiResponse:
    """An answer: status, body bytes, headers (JSON by default)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    variant: str = ""  # the endpoint variant that answered, for metrics


def json_response(status: int, payload: Any, variant: str = "") -> ApiResponse:
    """`payload` as a JSON answer with `status`."""
    return ApiResponse(status, json.dumps(payload).encode(), variant=variant)


def error_response(error: AwsError) -> ApiResponse:
    """A gateway response: {"message": ...} with the error's status; a KeyRefusal's Retry-After."""
    response = json_response(error.status, {"message": error.message})
    if isinstance(error, KeyRefusal) and error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@dataclass(frozen=True)
class Route:
    """One method on one path: its integration, the OpenAPI summary, the body's JSON Schema
    (None: no body read as JSON) and whether an API key is required."""

    method: str
    path: str
    name: str
    integration: Callable[[GatewayServer, ApiRequest], ApiResponse]
    summary: str
    schema: dict[str, Any] | None = None
    api_key_required: bool = False


# -- the request body


def _field_error(error: ValidationError) -> str:
    """'field policy_id: ...' from a jsonschema error, naming the offending field."""
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" or not where:
        return f"invalid request body: {error.message}"
    return f"invalid request body: field '{where}': {error.message}"


def _no_constant(name: str) -> float:
    raise BadJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadJson(f"number {text} is out of range")
    return value


def parse_json(body: bytes) -> Any:
    """The body as JSON (RFC 8259: UTF-8, finite numbers); BadJson saying why not. Python's
    json would take NaN, Infinity, 1e400 (= inf), UTF-16 and recurse until it crashed."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError as exc:
        raise BadJson(f"not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise BadJson("nested too deeply") from None
    except BadJson:
        raise
    except ValueError as exc:
        raise BadJson(str(exc)) from None


def parse_body(body: bytes, validator: Draft4Validator) -> Any:
    """The body as JSON that `validator` (a route's model) accepts; BadRequestBody saying why not:
    not JSON, or the field that fails (the best match among the schema's errors)."""
    try:
        payload = parse_json(body)
    except BadJson as exc:
        raise BadRequestBody(f"Invalid request body: not JSON: {exc}") from None
    error = best_match(validator.iter_errors(payload))
    if error is not None:
        raise BadRequestBody(_field_error(error))
    return payload


# -- Lambda proxy integration ------------------------------------------------------------------

# The key authenticates to the gateway; the function has no use for it.
_HIDDEN_HEADERS = frozenset({"x-api-key", "authorization"})


def proxy_event(request: ApiRequest, resource: str) -> dict[str, Any]:
    """The REST API (v1 payload) proxy event API Gateway sends a Lambda function."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS}
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request.request_id,
            "stage": STAGE,
            "resourcePath": resource,
            "httpMethod": request.method,
            "path": f"/{STAGE}{resource}",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": request.source_ip, "apiKeyId": request.key_id},
        },
        "body": request.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _count_unknown_categories(gateway: GatewayServer, body: dict[str, Any]) -> None:
    for item in body.get("unknown_categories") or ():
        field_name = str(item.get("field", "")).split(".", 1)[-1] if isinstance(item, dict) else ""
        if field_name:
            gateway.metrics.unknown_category(field_name)


# API Gateway's integration timeout for the Lambda proxy integration (the template sets no
# TimeoutInMillis: the default, 29 s; https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
INTEGRATION_TIMEOUT_S = 29.0


def predict_proxy(gateway: GatewayServer, request: ApiRequest) -> ApiResponse:
    """The Lambda proxy integration: the function's answer as it is. As API Gateway answers:
    a function error (an unhandled exception, a failed Init such as Runtime.ImportModuleError, a
    crash, or the function's own Timeout: Lambda's "Task timed out", when shorter than the
    integration timeout) or an answer that is not a proxy response → 502 "Internal server error";
    no answer within the integration timeout (29 s) → 504 "Endpoint request timed out"
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html,
    https://repost.aws/knowledge-center/api-gateway-internal-server-error)."""
    outcome = gateway.function.invoke(proxy_event(request, "/predict"), request.request_id, INTEGRATION_TIMEOUT_S)
    if outcome.abandoned:
        log.error("Lambda proxy integration timed out (request %s)", request.request_id)
        return error_response(IntegrationTimeout("Endpoint request timed out"))
    if outcome.error is not None:
        log.error(
            "Lambda function error (request %s): %s: %s",
            request.request_id,
            outcome.error.get("errorType"),
            outcome.error.get("errorMessage"),
        )
        return error_response(IntegrationFailure("Internal server error"))
    try:
        result = outcome.result
        status = int(result["statusCode"])
        body = result.get("body") or ""
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        if not isinstance(body, str):
            raise TypeError("body is not a string")
    except (KeyError, TypeError, ValueError, AttributeError):
        # API Gateway's answer to a malformed proxy response.
        log.error("Lambda proxy integration: malformed proxy response (request %s)", request.request_id)
        return error_response(IntegrationFailure("Internal server error"))
    variant = ""
    if status == 200:
        try:
            answer = json.loads(body)
            variant = answer.get("variant") or ""
            _count_unknown_categories(gateway, answer)
        except (ValueError, AttributeError):
            pass
    headers.setdefault("Content-Type", "application/json")
    return ApiResponse(status, body.encode("utf-8"), headers, variant)


# -- direct (mapping template) integration -----------------------------------------------------


def to_csv(instances: list[Mapping[str, Any]], order: list[str] | None = None) -> str:
    """The mapping template: one CSV row per instance in the contract's feature order,
    empty = missing."""
    order = order if order is not None else contracts.active().model_features
    rows = []
    for instance in instances:
        rows.append(",".join("" if instance.get(name) is None else repr(float(instance[name])) for name in order))
    return "\n".join(rows) + "\n"


# How the direct integration answers an InvokeEndpoint error: by the runtime's HTTP status
# alone, as API Gateway selects an AWS integration's response (IntegrationResponses'
# SelectionPattern, a regex over the status code), with the runtime's `Message` as the message.
# The SAME table is DirectMethod's IntegrationResponses in infra/ml-gateway.yaml
# (tests/test_direct_errors.py compares them). Runtime statuses (botocore's sagemaker-runtime
# model): ValidationError 400, ModelError 424, ModelNotReadyException 429, InternalFailure 500,
# ServiceUnavailable 503, InternalDependencyException 530; a payload over 6 MB is 413.
DIRECT_ERRORS: tuple[tuple[str, int], ...] = (
    ("400|413", 400),  # the request's fault (bad variant, too large)
    ("429|503", 503),  # not ready / unavailable: retry later
    # ModelError (424: the model failed, not the caller) and anything else (e.g. 403 for the
    # role): a bad gateway. One pattern, as API Gateway keys integration responses by status.
    (r"(4(?!00|13|29)|5(?!03))\d{2}", 502),
)
# A 400 whose Message says the endpoint is missing or not serving is the service being
# unavailable (503), not the caller's fault; the template overrides the status likewise.
NOT_SERVING = ("not found", "not in service", "could not find")


def direct_error_status(status: int, message: str) -> int:
    """The gateway's status for the runtime's error `status` and `message` (DIRECT_ERRORS)."""
    for pattern, answer in DIRECT_ERRORS:
        if re.fullmatch(pattern, str(status)):
            lowered = message.lower()
            if answer == 400 and any(s in lowered for s in NOT_SERVING) and "variant" not in lowered:
                return 503
            return answer
    return 502


def predict_direct(gateway: GatewayServer, request: ApiRequest) -> ApiResponse:
    """{"features": {...}} (the body the template's DirectPredictRequest model accepts); runtime
    errors answered by DIRECT_ERRORS, as the template's integration responses do."""
    from inference.gateway_handler import clients

    kwargs: dict[str, Any] = {
        "EndpointName": gateway.endpoint_name,
        "ContentType": "text/csv",
        "Accept": "application/json",
        "Body": to_csv([request.payload["features"]]),
    }
    try:
        out = clients().runtime.invoke_endpoint(**kwargs)
        predictions = json.loads(out["Body"].read())["predictions"]
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        message = exc.response.get("Error", {}).get("Message", "")
        return json_response(direct_error_status(status, message), {"message": message})
    except BotoCoreError as exc:
        return error_response(IntegrationUnavailable(f"endpoint {gateway.endpoint_name} unreachable: {exc}"))
    except (ValueError, KeyError, TypeError):
        return error_response(IntegrationFailure(f"endpoint {gateway.endpoint_name} returned an unexpected body"))
    variant = out.get("InvokedProductionVariant", "")
    return json_response(
        200, {"predictions": predictions, "variant": variant, "endpoint": gateway.endpoint_name}, variant
    )


# -- the gateway's own routes --------------------------------------------------------------------


def health(gateway: GatewayServer, request: ApiRequest) -> ApiResponse:
    """The gateway is up; the endpoint's status is reported, not required (it may be deploying)."""
    from inference.gateway_handler import clients

    try:
        status = clients().control.describe_endpoint(EndpointName=gateway.endpoint_name)["EndpointStatus"]
    except ClientError as exc:
        status = exc.response["Error"].get("Code", "Unknown")
    except BotoCoreError:
        status = "Unreachable"
    return json_response(200, {"status": "ok", "endpoint": {"name": gateway.endpoint_name, "status": status}})


def openapi(gateway: GatewayServer, request: ApiRequest) -> ApiResponse:
    """This API's OpenAPI document (openapi.py), as built when the server started."""
    return ApiResponse(200, gateway.openapi_document)


def metrics(gateway: GatewayServer, request: ApiRequest) -> ApiResponse:
    """The gateway's Prometheus metrics (metrics.py), in the exposition format."""
    return ApiResponse(200, gateway.metrics.render(), {"Content-Type": gateway.metrics.content_type})


def build_routes(contract: contracts.Contract | None = None) -> tuple[Route, ...]:
    """The route table, request schemas from `contract` (default: the active one)."""
    c = contract or contracts.active()
    return (
        Route(
            "POST",
            f"/{STAGE}/predict",
            "predict",
            predict_proxy,
            "Score a policy: features from the online Feature Store (or the raw records "
            "sent), then the endpoint. Lambda proxy integration.",
            c.predict_request_model(),
            api_key_required=True,
        ),
        Route(
            "POST",
            f"/{STAGE}/predict/direct",
            "predict_direct",
            predict_direct,
            "Score an encoded feature vector straight on the endpoint (no Lambda, no Feature Store).",
            c.direct_request_model(),
            api_key_required=True,
        ),
        Route("GET", f"/{STAGE}/health", "health", health, "Gateway liveness and endpoint status."),
        Route("GET", f"/{STAGE}/openapi.json", "openapi", openapi, "This API's OpenAPI 3 document."),
        Route("GET", "/metrics", "metrics", metrics, "Prometheus metrics."),
    )


def __getattr__(name: str) -> Any:
    if name == "ROUTES":  # the active contract's routes, looked up on access
        return build_routes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
