"""Application Auto Scaling's wire (JSON 1.1, `AnyScaleFrontendService.*`, checked against
botocore's model by JsonApi): RegisterScalableTarget, DeregisterScalableTarget,
DescribeScalableTargets, PutScalingPolicy, DescribeScalingPolicies. Each reads its parameters,
calls `cloud.autoscaling` (localcloud/autoscaling/models.py, where the behaviour is) and
renders AWS's response; the Describe operations page here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.autoscaling.exceptions import InvalidNextTokenException
from localcloud.json_api import page, with_token

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]
PAGE_SIZE = 50  # DescribeScalableTargets / DescribeScalingPolicies MaxResults default


def _page(items: list[dict[str, Any]], params: Params, key: str) -> dict[str, Any]:
    found, token = page(
        items, params, default_max=PAGE_SIZE, invalid=InvalidNextTokenException, message="Invalid token"
    )
    return with_token({key: found}, token)


def register_scalable_target(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.autoscaling.register_scalable_target(
        service_namespace=params["ServiceNamespace"],
        resource_id=params["ResourceId"],
        scalable_dimension=params["ScalableDimension"],
        min_capacity=params.get("MinCapacity"),
        max_capacity=params.get("MaxCapacity"),
        role_arn=params.get("RoleARN"),
        suspended_state=params.get("SuspendedState"),
    )
    return {"ScalableTargetARN": arn}


def deregister_scalable_target(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.autoscaling.deregister_scalable_target(
        service_namespace=params["ServiceNamespace"],
        resource_id=params["ResourceId"],
        scalable_dimension=params["ScalableDimension"],
    )
    return {}


def describe_scalable_targets(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    targets = cloud.autoscaling.describe_scalable_targets(
        service_namespace=params["ServiceNamespace"],
        resource_ids=params.get("ResourceIds"),
        scalable_dimension=params.get("ScalableDimension"),
    )
    return _page(targets, params, "ScalableTargets")


def put_scaling_policy(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.autoscaling.put_scaling_policy(
        service_namespace=params["ServiceNamespace"],
        resource_id=params["ResourceId"],
        scalable_dimension=params["ScalableDimension"],
        policy_name=params["PolicyName"],
        policy_type=params.get("PolicyType", "StepScaling"),
        step_scaling_policy_configuration=params.get("StepScalingPolicyConfiguration"),
        target_tracking_scaling_policy_configuration=params.get("TargetTrackingScalingPolicyConfiguration"),
        predictive_scaling_policy_configuration=params.get("PredictiveScalingPolicyConfiguration"),
    )


def describe_scaling_policies(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    policies = cloud.autoscaling.describe_scaling_policies(
        service_namespace=params["ServiceNamespace"],
        resource_id=params.get("ResourceId"),
        scalable_dimension=params.get("ScalableDimension"),
        policy_names=params.get("PolicyNames"),
    )
    return _page(policies, params, "ScalingPolicies")


OPERATIONS: dict[str, Callable[[LocalCloud, Params], dict[str, Any] | None]] = {
    "RegisterScalableTarget": register_scalable_target,
    "DeregisterScalableTarget": deregister_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
}
