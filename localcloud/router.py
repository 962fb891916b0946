"""Route a verified request to its service, the way AWS's front door does (localcloud/services.py
says which folder answers which service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcloud.errors import UnknownOperationException
from localcloud.protocol import Request, Response, json_error
from localcloud.services import JSON_SERVICES, SIGNING_NAMES, json_api, rest_handler

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud


def route(cloud: LocalCloud, request: Request) -> Response:
    service = SIGNING_NAMES.get(request.service, request.service)
    if service == "sagemaker":
        # Control plane, runtime and feature-store runtime share the signing name "sagemaker".
        if request.headers.get("X-Amz-Target", "").startswith("SageMaker."):
            return json_api("sagemaker").handle(cloud, request)
        if request.path.startswith("/endpoints/"):
            return rest_handler("sagemaker-runtime")(cloud, request)
        return rest_handler("sagemaker-featurestore-runtime")(cloud, request)
    if service in JSON_SERVICES:
        return json_api(service).handle(cloud, request)
    try:
        handler = rest_handler(service)
    except KeyError:
        return json_error(UnknownOperationException(f"localcloud does not serve the {service!r} service"))
    return handler(cloud, request)
