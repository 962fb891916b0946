"""Which folder answers which AWS service: the table the router and the in-process client read.

A JSON service (AWS's JSON 1.0/1.1 protocols, X-Amz-Target) is assembled from the `OPERATIONS`
of one or more `responses.py` modules: SageMaker's control plane is answered by four folders
(hosting and the registry, pipelines, jobs, Feature Store's control operations). A REST service
(S3, the runtimes, the query protocols of IAM, STS and CloudFormation) has a `handle(cloud, request)` in its
`responses.py`. Adding a service: copy a folder, add its row here.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import NamedTuple

from localcloud.json_api import JsonApi


class JsonService(NamedTuple):
    model: str  # botocore's service model name
    target_prefix: str  # X-Amz-Target's prefix
    modules: tuple[str, ...]  # each defines OPERATIONS


JSON_SERVICES: dict[str, JsonService] = {
    "sagemaker": JsonService(
        "sagemaker",
        "SageMaker",
        (
            "localcloud.sagemaker.responses",
            "localcloud.sagemaker.pipelines.responses",
            "localcloud.sagemaker.jobs.responses",
            "localcloud.featurestore.responses",
        ),
    ),
    "athena": JsonService("athena", "AmazonAthena", ("localcloud.athena.responses",)),
    "events": JsonService("events", "AWSEvents", ("localcloud.events.responses",)),
    "cloudwatch": JsonService("cloudwatch", "GraniteServiceVersion20100801", ("localcloud.cloudwatch.responses",)),
    "application-autoscaling": JsonService(
        "application-autoscaling", "AnyScaleFrontendService", ("localcloud.autoscaling.responses",)
    ),
}

# SigV4 signing name -> boto3 name, where they differ.
SIGNING_NAMES = {"monitoring": "cloudwatch"}

# REST and query services: (signing name, what tells them apart) -> module with handle(cloud, request).
REST_HANDLERS = {
    "s3": "localcloud.s3.responses",
    "sagemaker-runtime": "localcloud.sagemaker.runtime",  # POST /endpoints/<name>/invocations
    "sagemaker-featurestore-runtime": "localcloud.featurestore.responses",
    "sts": "localcloud.iam.responses",
    "iam": "localcloud.iam.responses",
    "cloudformation": "localcloud.cloudformation.responses",
}


@cache
def json_api(service: str) -> JsonApi:
    """The JSON service a boto3 client of this name talks to (KeyError if none here)."""
    spec = JSON_SERVICES[service]
    operations = {}
    validation_error = None  # a module's VALIDATION_ERROR: its service's code for a model failure
    for module in spec.modules:
        loaded = importlib.import_module(module)
        operations.update(loaded.OPERATIONS)
        validation_error = getattr(loaded, "VALIDATION_ERROR", validation_error)
    if validation_error is None:
        return JsonApi(spec.model, spec.target_prefix, operations)
    return JsonApi(spec.model, spec.target_prefix, operations, validation_error)


@cache
def rest_handler(service: str):
    return importlib.import_module(REST_HANDLERS[service]).handle
