"""SageMaker Feature Store control plane over JSON 1.1 (`SageMaker.<Op>`); input is already
validated against botocore's `sagemaker` model by json_api before these run."""
from __future__ import annotations

from typing import Any


def create_feature_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.create_group(params)


def describe_feature_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.describe_group(params["FeatureGroupName"])


def list_feature_groups(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.list_groups(params)


def delete_feature_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    cloud.featurestore.delete_group(params["FeatureGroupName"])
    return {}


def update_feature_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.featurestore.update_group(params)


OPERATIONS = {
    "CreateFeatureGroup": create_feature_group,
    "DescribeFeatureGroup": describe_feature_group,
    "ListFeatureGroups": list_feature_groups,
    "DeleteFeatureGroup": delete_feature_group,
    "UpdateFeatureGroup": update_feature_group,
}
