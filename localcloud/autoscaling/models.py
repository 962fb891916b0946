"""Application Auto Scaling's backend, reached as `cloud.autoscaling`: the scalable targets and
scaling policies of SageMaker endpoint variants (the only namespace this workflow scales).

Behaviour reproduced from the API reference
(https://docs.aws.amazon.com/autoscaling/application/APIReference/):
- RegisterScalableTarget registers or updates; a new target needs MinCapacity and
  MaxCapacity; for SageMaker the variant must exist (ValidationException otherwise), which is
  read through `cloud.client("sagemaker")` (DescribeEndpoint, DescribeEndpointConfig).
- DeregisterScalableTarget deletes the target's scaling policies too ("Deregistering a scalable
  target deletes the scaling policies and the scheduled actions that are associated with it");
  an unknown target is ObjectNotFoundException ("No scalable target registered for service
  namespace: ...").
- PutScalingPolicy needs a registered target (the same ObjectNotFoundException); re-putting a
  policy name updates it and keeps its ARN.
Nothing scales locally (there are no instances to add); what matters is the state and the
refusals it causes elsewhere (SageMaker's UpdateEndpoint refuses to remove or re-type a variant
`registered_variants` names).

State: documents in the shared StateStore. A target is `<namespace>|<dimension>|<resource id>`
(kind TARGET); a policy is that key plus `|<policy name>` (kind POLICY), so a target's policies
list by prefix and go with it when it is deregistered.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from localcloud.autoscaling.exceptions import ObjectNotFoundException
from localcloud.errors import AwsError, ValidationException

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

TARGET = "autoscaling:target"
POLICY = "autoscaling:policy"
SAGEMAKER_VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_VARIANT_ID = re.compile(r"endpoint/([^/]+)/variant/([^/]+)")
_POLICY_CONFIG = {
    "StepScaling": "StepScalingPolicyConfiguration",
    "TargetTrackingScaling": "TargetTrackingScalingPolicyConfiguration",
    "PredictiveScaling": "PredictiveScalingPolicyConfiguration",
}


def target_key(namespace: str, dimension: str, resource_id: str) -> str:
    return f"{namespace}|{dimension}|{resource_id}"


def policy_key(namespace: str, dimension: str, resource_id: str, name: str) -> str:
    return f"{target_key(namespace, dimension, resource_id)}|{name}"


def variant_resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def _not_registered(namespace: str, resource_id: str, dimension: str) -> ObjectNotFoundException:
    return ObjectNotFoundException(
        f"No scalable target registered for service namespace: {namespace}, "
        f"resource ID: {resource_id}, scalable dimension: {dimension}"
    )


def check_sagemaker(namespace: str, dimension: str | None = None, resource_id: str | None = None) -> tuple[str, str]:
    """(endpoint, variant) of a SageMaker variant target (("", "") without a resource ID);
    ValidationException for other namespaces, dimensions or resource IDs."""
    if namespace != "sagemaker":
        raise ValidationException(
            f"localcloud serves Application Auto Scaling for the sagemaker namespace only, not {namespace!r}"
        )
    if dimension is not None and dimension != SAGEMAKER_VARIANT_DIMENSION:
        raise ValidationException(
            f"Unsupported scalable dimension {dimension!r} for service namespace "
            f"sagemaker; localcloud serves {SAGEMAKER_VARIANT_DIMENSION}"
        )
    if resource_id is None:
        return "", ""
    match = _VARIANT_ID.fullmatch(resource_id)
    if not match:
        raise ValidationException(
            f"Unsupported resource ID {resource_id!r}: a SageMaker variant is "
            "endpoint/<endpoint name>/variant/<variant name>"
        )
    return match[1], match[2]


class AutoScalingBackend:
    """Application Auto Scaling for one LocalCloud (`cloud.autoscaling`). Targets and policies
    are AWS's ScalableTarget and ScalingPolicy shapes (CreationTime as epoch s)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud

    def _target(self, namespace: str, dimension: str, resource_id: str) -> dict[str, Any]:
        doc = self.cloud.state.get(TARGET, target_key(namespace, dimension, resource_id))
        if doc is None:
            raise _not_registered(namespace, resource_id, dimension)
        return doc

    def _variants(self, endpoint: str) -> set[str] | None:
        """The endpoint's variant names as SageMaker describes them (those of the config it is
        being created with while it has none yet); None for an endpoint SageMaker does not
        know."""
        sagemaker = self.cloud.client("sagemaker")
        try:
            described = sagemaker.describe_endpoint(EndpointName=endpoint)
            variants = described.get("ProductionVariants")
            if not variants:
                variants = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])[
                    "ProductionVariants"
                ]
        except AwsError:
            return None
        return {v["VariantName"] for v in variants}

    def register_scalable_target(
        self,
        *,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        role_arn: str | None = None,
        suspended_state: dict[str, bool] | None = None,
    ) -> str:
        """Register a variant as a scalable target, or update one; its ScalableTargetARN.
        ValidationException (not a SageMaker variant, an unknown variant, a new target without
        both capacities, MinCapacity above MaxCapacity)."""
        endpoint, variant = check_sagemaker(service_namespace, scalable_dimension, resource_id)
        variants = self._variants(endpoint)
        cloud = self.cloud
        with cloud.state.transaction():
            if variants is None or variant not in variants:
                raise ValidationException(
                    f"The variant {variant} of endpoint {endpoint} does not exist (resource ID {resource_id})"
                )
            key = target_key(service_namespace, scalable_dimension, resource_id)
            existing = cloud.state.get(TARGET, key)
            if existing is None and (min_capacity is None or max_capacity is None):
                raise ValidationException(
                    f"MinCapacity and MaxCapacity are required to register a new scalable target ({resource_id})"
                )
            target = existing or {
                "ServiceNamespace": service_namespace,
                "ResourceId": resource_id,
                "ScalableDimension": scalable_dimension,
                "RoleARN": role_arn
                or (
                    f"arn:aws:iam::{cloud.config.account_id}:role/aws-service-role/sagemaker."
                    "application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                ),
                "CreationTime": time.time(),
                "ScalableTargetARN": cloud.config.arn(
                    "application-autoscaling", f"scalable-target/{uuid.uuid4().hex}{uuid.uuid4().hex[:4]}"
                ),
                "SuspendedState": {
                    "DynamicScalingInSuspended": False,
                    "DynamicScalingOutSuspended": False,
                    "ScheduledScalingSuspended": False,
                },
            }
            if min_capacity is not None:
                target["MinCapacity"] = min_capacity
            if max_capacity is not None:
                target["MaxCapacity"] = max_capacity
            if suspended_state:
                target["SuspendedState"].update(suspended_state)
            if target["MinCapacity"] > target["MaxCapacity"]:
                raise ValidationException(
                    f"Minimum capacity {target['MinCapacity']} cannot be greater than "
                    f"maximum capacity {target['MaxCapacity']}"
                )
            cloud.state.put(TARGET, key, target)
        arn: str = target["ScalableTargetARN"]
        return arn

    def deregister_scalable_target(self, *, service_namespace: str, resource_id: str, scalable_dimension: str) -> None:
        """Deregister a target and delete its policies; ValidationException,
        ObjectNotFoundException."""
        endpoint, variant = check_sagemaker(service_namespace, scalable_dimension, resource_id)
        with self.cloud.state.transaction():
            self._target(service_namespace, scalable_dimension, resource_id)
            self.deregister_variant(endpoint, variant)

    def describe_scalable_targets(
        self, *, service_namespace: str, resource_ids: list[str] | None = None, scalable_dimension: str | None = None
    ) -> list[dict[str, Any]]:
        """The namespace's targets the filters select; ValidationException."""
        check_sagemaker(service_namespace, scalable_dimension)
        targets = self.cloud.state.list(TARGET, service_namespace + "|")
        if resource_ids:
            targets = [t for t in targets if t["ResourceId"] in resource_ids]
        if scalable_dimension:
            targets = [t for t in targets if t["ScalableDimension"] == scalable_dimension]
        return targets

    def put_scaling_policy(
        self,
        *,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        policy_name: str,
        policy_type: str = "StepScaling",
        step_scaling_policy_configuration: dict[str, Any] | None = None,
        target_tracking_scaling_policy_configuration: dict[str, Any] | None = None,
        predictive_scaling_policy_configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or update a policy on a registered target; {PolicyARN, Alarms}. The policy
        type's configuration is required (ValidationException); ObjectNotFoundException for an
        unregistered target."""
        check_sagemaker(service_namespace, scalable_dimension, resource_id)
        config_field = _POLICY_CONFIG[policy_type]
        configuration = {
            "StepScaling": step_scaling_policy_configuration,
            "TargetTrackingScaling": target_tracking_scaling_policy_configuration,
            "PredictiveScaling": predictive_scaling_policy_configuration,
        }[policy_type]
        if configuration is None:
            raise ValidationException(f"{config_field} is required for a {policy_type} policy")
        cloud = self.cloud
        with cloud.state.transaction():
            self._target(service_namespace, scalable_dimension, resource_id)
            key = policy_key(service_namespace, scalable_dimension, resource_id, policy_name)
            existing = cloud.state.get(POLICY, key)
            arn = (
                existing["PolicyARN"]
                if existing
                else cloud.config.arn(
                    "autoscaling",
                    f"scalingPolicy:{uuid.uuid4()}:resource/{service_namespace}/{resource_id}:policyName/{policy_name}",
                )
            )
            # Target tracking creates CloudWatch alarms on AWS; localcloud keeps no alarms for
            # them (nothing scales locally), so Alarms is empty.
            policy: dict[str, Any] = {
                "PolicyARN": arn,
                "PolicyName": policy_name,
                "ServiceNamespace": service_namespace,
                "ResourceId": resource_id,
                "ScalableDimension": scalable_dimension,
                "PolicyType": policy_type,
                config_field: configuration,
                "Alarms": [],
                "CreationTime": existing["CreationTime"] if existing else time.time(),
            }
            cloud.state.put(POLICY, key, policy)
        return {"PolicyARN": arn, "Alarms": []}

    def describe_scaling_policies(
        self,
        *,
        service_namespace: str,
        resource_id: str | None = None,
        scalable_dimension: str | None = None,
        policy_names: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The namespace's policies the filters select; ValidationException."""
        check_sagemaker(service_namespace, scalable_dimension, resource_id)
        policies = self.cloud.state.list(POLICY, service_namespace + "|")
        if resource_id:
            policies = [p for p in policies if p["ResourceId"] == resource_id]
        if scalable_dimension:
            policies = [p for p in policies if p["ScalableDimension"] == scalable_dimension]
        if policy_names:
            policies = [p for p in policies if p["PolicyName"] in policy_names]
        return policies

    # -- for SageMaker ---------------------------------------------------------------------------

    def registered_variants(self, endpoint: str) -> list[str]:
        """The names of an endpoint's variants registered with Application Auto Scaling (what
        SageMaker's UpdateEndpoint checks before removing or re-typing one)."""
        prefix = target_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, f"endpoint/{endpoint}/variant/")
        return [doc["ResourceId"].rsplit("/", 1)[1] for doc in self.cloud.state.list(TARGET, prefix)]

    def deregister_variant(self, endpoint: str, variant: str) -> None:
        """Drop a variant's scalable target and its policies (DeleteEndpoint does so for AWS);
        nothing for a variant that is not registered."""
        resource_id = variant_resource_id(endpoint, variant)
        key = target_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, resource_id)
        with self.cloud.state.transaction():
            for policy in self.cloud.state.list(POLICY, key + "|"):
                self.cloud.state.delete(
                    POLICY, policy_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, resource_id, policy["PolicyName"])
                )
            self.cloud.state.delete(TARGET, key)
