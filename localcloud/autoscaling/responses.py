"""Application Auto Scaling's wire operations for SageMaker endpoint variants:
RegisterScalableTarget, DeregisterScalableTarget, DescribeScalableTargets, PutScalingPolicy,
DescribeScalingPolicies (JSON 1.1, `AnyScaleFrontendService.*`, checked against botocore's
model by JsonApi).

Behaviour reproduced from the API reference
(https://docs.aws.amazon.com/autoscaling/application/APIReference/):
- RegisterScalableTarget registers or updates; a new target needs MinCapacity and
  MaxCapacity; for SageMaker the variant must exist (ValidationException otherwise).
- DeregisterScalableTarget deletes the target's scaling policies too; an unknown target is
  ObjectNotFoundException ("No scalable target registered for service namespace: ...").
- PutScalingPolicy needs a registered target (the same ObjectNotFoundException); re-putting a
  policy name updates it and keeps its ARN.
Only the `sagemaker` namespace is served: it is the only one this workflow scales.
"""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from localcloud.autoscaling.models import (POLICY, SAGEMAKER_VARIANT_DIMENSION, TARGET, deregister,
                                           policy_key, target_key)
from localcloud.errors import AwsError, validation
from localcloud.json_api import JsonApi
from localcloud.protocol import Request, Response

_VARIANT_ID = re.compile(r"endpoint/([^/]+)/variant/([^/]+)")
PAGE_SIZE = 50   # DescribeScalableTargets / DescribeScalingPolicies MaxResults default


def _not_registered(namespace: str, resource_id: str, dimension: str) -> AwsError:
    return AwsError("ObjectNotFoundException",
                    f"No scalable target registered for service namespace: {namespace}, "
                    f"resource ID: {resource_id}, scalable dimension: {dimension}")


def _check_sagemaker(params: dict[str, Any]) -> tuple[str, str]:
    """(endpoint, variant) of a SageMaker variant target; refuses other namespaces/dimensions."""
    namespace = params["ServiceNamespace"]
    if namespace != "sagemaker":
        raise validation(f"localcloud serves Application Auto Scaling for the sagemaker namespace "
                         f"only, not {namespace!r}")
    dimension = params.get("ScalableDimension")
    if dimension is not None and dimension != SAGEMAKER_VARIANT_DIMENSION:
        raise validation(f"Unsupported scalable dimension {dimension!r} for service namespace "
                         f"sagemaker; localcloud serves {SAGEMAKER_VARIANT_DIMENSION}")
    resource_id = params.get("ResourceId")
    if resource_id is None:
        return "", ""
    match = _VARIANT_ID.fullmatch(resource_id)
    if not match:
        raise validation(f"Unsupported resource ID {resource_id!r}: a SageMaker variant is "
                         "endpoint/<endpoint name>/variant/<variant name>")
    return match[1], match[2]


def _target(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    key = target_key(params["ServiceNamespace"], params["ScalableDimension"], params["ResourceId"])
    doc = cloud.state.get(TARGET, key)
    if doc is None:
        raise _not_registered(params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"])
    return doc


def register_scalable_target(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    from localcloud.sagemaker.endpoints import ENDPOINT
    endpoint, variant = _check_sagemaker(params)
    namespace, dimension, resource_id = (params["ServiceNamespace"], params["ScalableDimension"],
                                         params["ResourceId"])
    with cloud.state.transaction():
        doc = cloud.state.get(ENDPOINT, endpoint)
        if doc is None or variant not in {v["VariantName"] for v in doc.get("ProductionVariants") or
                                          doc["_Config"]["ProductionVariants"]}:
            raise validation(f"The variant {variant} of endpoint {endpoint} does not exist "
                             f"(resource ID {resource_id})")
        key = target_key(namespace, dimension, resource_id)
        existing = cloud.state.get(TARGET, key)
        if existing is None and ("MinCapacity" not in params or "MaxCapacity" not in params):
            raise validation("MinCapacity and MaxCapacity are required to register a new "
                             f"scalable target ({resource_id})")
        target = existing or {
            "ServiceNamespace": namespace, "ResourceId": resource_id, "ScalableDimension": dimension,
            "RoleARN": params.get("RoleARN") or (
                f"arn:aws:iam::{cloud.config.account_id}:role/aws-service-role/sagemaker."
                "application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
            "CreationTime": time.time(),
            "ScalableTargetARN": cloud.config.arn("application-autoscaling",
                                                  f"scalable-target/{uuid.uuid4().hex}{uuid.uuid4().hex[:4]}"),
            "SuspendedState": {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                               "ScheduledScalingSuspended": False}}
        for field in ("MinCapacity", "MaxCapacity"):
            if field in params:
                target[field] = params[field]
        if params.get("SuspendedState"):
            target["SuspendedState"].update(params["SuspendedState"])
        if target["MinCapacity"] > target["MaxCapacity"]:
            raise validation(f"Minimum capacity {target['MinCapacity']} cannot be greater than "
                             f"maximum capacity {target['MaxCapacity']}")
        cloud.state.put(TARGET, key, target)
    return {"ScalableTargetARN": target["ScalableTargetARN"]}


def deregister_scalable_target(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    endpoint, variant = _check_sagemaker(params)
    with cloud.state.transaction():
        _target(cloud, params)
        deregister(cloud, endpoint, variant)
    return {}


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    size = params.get("MaxResults") or PAGE_SIZE
    start = 0
    if params.get("NextToken"):
        try:
            start = int(params["NextToken"])
        except ValueError:
            raise AwsError("InvalidNextTokenException", "Invalid token") from None
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def describe_scalable_targets(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    _check_sagemaker({k: v for k, v in params.items() if k != "ResourceIds"})
    targets = cloud.state.list(TARGET, params["ServiceNamespace"] + "|")
    if params.get("ResourceIds"):
        targets = [t for t in targets if t["ResourceId"] in params["ResourceIds"]]
    if params.get("ScalableDimension"):
        targets = [t for t in targets if t["ScalableDimension"] == params["ScalableDimension"]]
    return _page(targets, params, "ScalableTargets")


def put_scaling_policy(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    _check_sagemaker(params)
    kind = params.get("PolicyType", "StepScaling")
    config_field = {"StepScaling": "StepScalingPolicyConfiguration",
                    "TargetTrackingScaling": "TargetTrackingScalingPolicyConfiguration",
                    "PredictiveScaling": "PredictiveScalingPolicyConfiguration"}[kind]
    if config_field not in params:
        raise validation(f"{config_field} is required for a {kind} policy")
    namespace, dimension, resource_id, name = (params["ServiceNamespace"], params["ScalableDimension"],
                                               params["ResourceId"], params["PolicyName"])
    with cloud.state.transaction():
        _target(cloud, params)
        key = policy_key(namespace, dimension, resource_id, name)
        existing = cloud.state.get(POLICY, key)
        arn = existing["PolicyARN"] if existing else cloud.config.arn(
            "autoscaling", f"scalingPolicy:{uuid.uuid4()}:resource/{namespace}/{resource_id}:policyName/{name}")
        # Target tracking creates CloudWatch alarms on AWS; localcloud keeps no alarms for them
        # (nothing scales locally), so Alarms is empty.
        policy = {"PolicyARN": arn, "PolicyName": name, "ServiceNamespace": namespace,
                  "ResourceId": resource_id, "ScalableDimension": dimension, "PolicyType": kind,
                  config_field: params[config_field], "Alarms": [],
                  "CreationTime": existing["CreationTime"] if existing else time.time()}
        cloud.state.put(POLICY, key, policy)
    return {"PolicyARN": arn, "Alarms": []}


def describe_scaling_policies(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    _check_sagemaker(params)
    policies = cloud.state.list(POLICY, params["ServiceNamespace"] + "|")
    for field in ("ResourceId", "ScalableDimension"):
        if params.get(field):
            policies = [p for p in policies if p[field] == params[field]]
    if params.get("PolicyNames"):
        policies = [p for p in policies if p["PolicyName"] in params["PolicyNames"]]
    return _page(policies, params, "ScalingPolicies")


OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "RegisterScalableTarget": register_scalable_target,
    "DeregisterScalableTarget": deregister_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
}

API = JsonApi("application-autoscaling", "AnyScaleFrontendService", OPERATIONS)


def handle(cloud: Any, request: Request) -> Response:
    return API.handle(cloud, request)
