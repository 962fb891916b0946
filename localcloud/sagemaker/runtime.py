"""SageMaker Runtime's InvokeEndpoint (REST-JSON): `POST /endpoints/{EndpointName}/invocations`.

The wire side only: parse the path and headers, enforce the 6 MB payload limit, call
`cloud.sagemaker.invoke`, and render its result or error (localcloud.sagemaker.exceptions'
InvokeError) the way the runtime service does (API_runtime_InvokeEndpoint).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from localcloud.protocol import Request, Response
from localcloud.sagemaker.exceptions import (
    InvokeError,
    NoSuchOperation,
    PayloadTooLarge,
    UnsupportedMethod,
    ValidationError,
)
from localcloud.shapes import compiled

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

# InvokeEndpoint's InferenceId (X-Amzn-SageMaker-Inference-Id): length 1-64, pattern
# \A\S[\p{Print}]*\z (the sagemaker-runtime service model; API_runtime_InvokeEndpoint).
_INFERENCE_ID_PATTERN = r"\A\S[\p{Print}]*\z"
_INFERENCE_ID_MAX = 64

MAX_PAYLOAD = 6 * 1024 * 1024
_PREFIX = "/endpoints/"
_SUFFIX = "/invocations"


def _error(error: InvokeError) -> Response:
    # The runtime's error body names the text `Message` (botocore's sagemaker-runtime model),
    # never `message`: a mapping template reading $.message gets nothing on AWS, so not here.
    body = {"__type": error.code, "Message": error.message, **error.fields}
    return Response(
        error.status, json.dumps(body).encode(), {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
    )


def _endpoint_name(path: str) -> str | None:
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    name = path[len(_PREFIX) : -len(_SUFFIX)]
    return name if name and "/" not in name else None


def handle(cloud: LocalCloud, request: Request) -> Response:
    """InvokeEndpoint's answer: the model's body and headers, or the runtime's error."""
    try:
        return _invoke(cloud, request)
    except InvokeError as error:
        return _error(error)


def _invoke(cloud: LocalCloud, request: Request) -> Response:
    name = _endpoint_name(request.path)
    if name is None:
        if request.path.endswith("/async-invocations") or request.path.endswith("/invocation-response-stream"):
            raise ValidationError("localcloud implements only InvokeEndpoint")
        raise NoSuchOperation(f"No operation at {request.path}")
    if request.method != "POST":
        raise UnsupportedMethod(f"{request.method} {request.path} is not supported")
    body = request.body
    if len(body) > MAX_PAYLOAD:
        # AWS: the request is refused before any model sees it.
        raise PayloadTooLarge(
            f"Received payload size of {len(body)} bytes exceeds "
            f"the maximum allowed payload size of 6MB ({MAX_PAYLOAD} bytes)."
        )
    headers = request.headers
    inference_id = headers.get("X-Amzn-SageMaker-Inference-Id")
    if inference_id is not None:
        _check_inference_id(inference_id)
    result = cloud.sagemaker.invoke(
        name,
        body,
        content_type=headers.get("Content-Type"),
        accept=headers.get("Accept"),
        target_variant=headers.get("X-Amzn-SageMaker-Target-Variant"),
        target_model=headers.get("X-Amzn-SageMaker-Target-Model"),
        custom_attributes=headers.get("X-Amzn-SageMaker-Custom-Attributes"),
        inference_id=inference_id,
        request_id=request.request_id,  # SageMaker names the request in some refusals
    )
    out = {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": result.variant}
    if result.custom_attributes is not None:
        out["X-Amzn-SageMaker-Custom-Attributes"] = result.custom_attributes
    return Response(200, result.body, out)


def _check_inference_id(value: str) -> None:
    if not 1 <= len(value) <= _INFERENCE_ID_MAX:
        raise ValidationError(
            f"1 validation error detected: Value at 'inferenceId' "
            f"failed to satisfy constraint: Member must have length between 1 and "
            f"{_INFERENCE_ID_MAX}"
        )
    if not compiled(_INFERENCE_ID_PATTERN).fullmatch(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at "
            "'inferenceId' failed to satisfy constraint: Member must satisfy regular "
            f"expression pattern: {_INFERENCE_ID_PATTERN}"
        )
