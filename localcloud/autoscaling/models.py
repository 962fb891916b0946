"""Scalable targets and scaling policies as documents in the shared StateStore.

Keys: a target is `<namespace>|<dimension>|<resource id>`; a policy is that key plus
`|<policy name>`, so a target's policies list by prefix and go with it when it is
deregistered ("Deregistering a scalable target deletes the scaling policies and the scheduled
actions that are associated with it": API_DeregisterScalableTarget).
"""
from __future__ import annotations

from typing import Any

TARGET = "autoscaling:target"
POLICY = "autoscaling:policy"
SAGEMAKER_VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def target_key(namespace: str, dimension: str, resource_id: str) -> str:
    return f"{namespace}|{dimension}|{resource_id}"


def policy_key(namespace: str, dimension: str, resource_id: str, name: str) -> str:
    return f"{target_key(namespace, dimension, resource_id)}|{name}"


def variant_resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def registered_variants(cloud: Any, endpoint: str) -> dict[str, dict[str, Any]]:
    """{variant name: scalable target} for an endpoint's variants registered with Application
    Auto Scaling (what SageMaker's UpdateEndpoint checks before removing or re-typing one)."""
    prefix = target_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, f"endpoint/{endpoint}/variant/")
    found = {}
    for doc in cloud.state.list(TARGET, prefix):
        found[doc["ResourceId"].rsplit("/", 1)[1]] = doc
    return found


def deregister(cloud: Any, endpoint: str, variant: str) -> None:
    """Drop a variant's scalable target and its policies (DeleteEndpoint does so for AWS)."""
    resource_id = variant_resource_id(endpoint, variant)
    key = target_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, resource_id)
    for policy in cloud.state.list(POLICY, key + "|"):
        cloud.state.delete(POLICY, policy_key("sagemaker", SAGEMAKER_VARIANT_DIMENSION, resource_id,
                                              policy["PolicyName"]))
    cloud.state.delete(TARGET, key)
