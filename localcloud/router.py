"""Route a verified request to its service, the way AWS's front door does."""
from __future__ import annotations

from functools import cache

from localcloud.errors import AwsError
from localcloud.json_api import JsonApi
from localcloud.protocol import Request, Response, json_error


@cache
def sagemaker_api() -> JsonApi:
    from localcloud.featurestore.control import OPERATIONS as featurestore_ops
    from localcloud.sagemaker.hosting import OPERATIONS as hosting_ops
    from localcloud.sagemaker.pipelines.api import OPERATIONS as pipeline_ops
    from localcloud.sagemaker.registry import OPERATIONS as registry_ops
    return JsonApi("sagemaker", "SageMaker",
                   {**featurestore_ops, **registry_ops, **hosting_ops, **pipeline_ops})


@cache
def athena_api() -> JsonApi:
    from localcloud.athena.responses import OPERATIONS
    return JsonApi("athena", "AmazonAthena", OPERATIONS)


def route(cloud, request: Request) -> Response:
    service = request.service
    if service == "s3":
        from localcloud.s3.responses import handle
        return handle(cloud, request)
    if service == "sagemaker":
        # Control plane, runtime and feature-store runtime share the signing name "sagemaker".
        if request.headers.get("X-Amz-Target", "").startswith("SageMaker."):
            return sagemaker_api().handle(cloud, request)
        if request.path.startswith("/endpoints/"):
            from localcloud.sagemaker.runtime import handle
            return handle(cloud, request)
        from localcloud.featurestore.runtime import handle
        return handle(cloud, request)
    if service in ("sts", "iam"):
        from localcloud.identity import handle
        return handle(cloud, request)
    if service == "athena":
        return athena_api().handle(cloud, request)
    if service == "monitoring":   # CloudWatch's signing name
        from localcloud.cloudwatch.api import handle
        return handle(cloud, request)
    if service == "application-autoscaling":
        from localcloud.autoscaling.api import handle
        return handle(cloud, request)
    if service == "events":
        from localcloud.events.api import handle
        return handle(cloud, request)
    return json_error(AwsError("UnknownOperationException",
                               f"localcloud does not serve the {service!r} service"))
