"""SageMaker's control-plane wire operations answered by this folder (JSON 1.1, X-Amz-Target
"SageMaker."): hosting's CreateModel, CreateEndpointConfig, CreateEndpoint, UpdateEndpoint,
UpdateEndpointWeightsAndCapacities and their Describe/List/Delete, and the model registry's
model package groups and packages. Each reads the request's members (already checked against
botocore's model by localcloud.json_api), calls `cloud.sagemaker` (SageMakerBackend) with
keyword arguments and renders its answer; errors are the backend's. The pipelines' and jobs'
operations are in their folders; InvokeEndpoint (sagemaker-runtime) is localcloud.sagemaker.runtime.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.json_api import page, with_token
from localcloud.sagemaker.models import ListFilter

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]


def _epoch(value: dt.datetime | float | str | None) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def _paged(key: str, items: list[dict[str, Any]], params: Params, default_max: int) -> dict[str, Any]:
    items, token = page(items, params, default_max=default_max)
    return with_token({key: items}, token)


def _filters(params: Params) -> ListFilter:
    return ListFilter(
        name_contains=params.get("NameContains"),
        status_equals=params.get("StatusEquals"),
        creation_time_after=_epoch(params.get("CreationTimeAfter")),
        creation_time_before=_epoch(params.get("CreationTimeBefore")),
        last_modified_time_after=_epoch(params.get("LastModifiedTimeAfter")),
        last_modified_time_before=_epoch(params.get("LastModifiedTimeBefore")),
        sort_by=params.get("SortBy"),
        sort_order=params.get("SortOrder"),
    )


# -- models -----------------------------------------------------------------------------------


def create_model(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.create_model(
        name=params["ModelName"],
        primary_container=params.get("PrimaryContainer"),
        containers=params.get("Containers"),
        inference_execution_config=params.get("InferenceExecutionConfig"),
        execution_role_arn=params.get("ExecutionRoleArn"),
        vpc_config=params.get("VpcConfig"),
        enable_network_isolation=params.get("EnableNetworkIsolation", False),
        tags=params.get("Tags", []),
    )
    return {"ModelArn": arn}


def describe_model(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.sagemaker.describe_model(name=params["ModelName"])


def delete_model(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.sagemaker.delete_model(name=params["ModelName"])
    return {}


def list_models(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return _paged("Models", cloud.sagemaker.list_models(filters=_filters(params)), params, 10)


# -- endpoint configs -------------------------------------------------------------------------


def create_endpoint_config(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.create_endpoint_config(
        name=params["EndpointConfigName"],
        production_variants=params["ProductionVariants"],
        data_capture_config=params.get("DataCaptureConfig"),
        kms_key_id=params.get("KmsKeyId"),
        async_inference_config=params.get("AsyncInferenceConfig"),
        shadow_production_variants=params.get("ShadowProductionVariants"),
        execution_role_arn=params.get("ExecutionRoleArn"),
        enable_network_isolation=params.get("EnableNetworkIsolation"),
        tags=params.get("Tags", []),
    )
    return {"EndpointConfigArn": arn}


def describe_endpoint_config(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.sagemaker.describe_endpoint_config(name=params["EndpointConfigName"])


def delete_endpoint_config(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.sagemaker.delete_endpoint_config(name=params["EndpointConfigName"])
    return {}


def list_endpoint_configs(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    configs = cloud.sagemaker.list_endpoint_configs(filters=_filters(params))
    return _paged("EndpointConfigs", configs, params, 10)


# -- endpoints --------------------------------------------------------------------------------


def create_endpoint(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.create_endpoint(
        name=params["EndpointName"], config_name=params["EndpointConfigName"], tags=params.get("Tags", [])
    )
    return {"EndpointArn": arn}


def describe_endpoint(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.sagemaker.describe_endpoint(name=params["EndpointName"])


def list_endpoints(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return _paged("Endpoints", cloud.sagemaker.list_endpoints(filters=_filters(params)), params, 10)


def delete_endpoint(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.sagemaker.delete_endpoint(name=params["EndpointName"])
    return {}


def update_endpoint(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.update_endpoint(
        name=params["EndpointName"],
        config_name=params["EndpointConfigName"],
        retain_all_variant_properties=bool(params.get("RetainAllVariantProperties")),
    )
    return {"EndpointArn": arn}


def update_endpoint_weights_and_capacities(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.update_endpoint_weights_and_capacities(
        name=params["EndpointName"], desired=params["DesiredWeightsAndCapacities"]
    )
    return {"EndpointArn": arn}


# -- model registry ---------------------------------------------------------------------------


def create_model_package_group(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.create_model_package_group(
        name=params["ModelPackageGroupName"],
        description=params.get("ModelPackageGroupDescription"),
        tags=params.get("Tags", []),
    )
    return {"ModelPackageGroupArn": arn}


def describe_model_package_group(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.sagemaker.describe_model_package_group(name=params["ModelPackageGroupName"])


def list_model_package_groups(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    groups = cloud.sagemaker.list_model_package_groups(
        name_contains=params.get("NameContains"),
        created_after=_epoch(params.get("CreationTimeAfter")),
        created_before=_epoch(params.get("CreationTimeBefore")),
        sort_by=params.get("SortBy"),
        sort_order=params.get("SortOrder"),
    )
    return _paged("ModelPackageGroupSummaryList", groups, params, 100)


def delete_model_package_group(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.sagemaker.delete_model_package_group(name=params["ModelPackageGroupName"])
    return {}


# CreateModelPackage's members stored as given (the names and the approval status are read apart).
_PACKAGE_FIELDS = (
    "ModelPackageDescription",
    "InferenceSpecification",
    "SourceAlgorithmSpecification",
    "ValidationSpecification",
    "CertifyForMarketplace",
    "MetadataProperties",
    "ModelMetrics",
    "DriftCheckBaselines",
    "Domain",
    "Task",
    "SamplePayloadUrl",
    "CustomerMetadataProperties",
    "AdditionalInferenceSpecifications",
    "SkipModelValidation",
    "SourceUri",
    "ModelCard",
)
_PACKAGE_CHANGES = (
    "ModelApprovalStatus",
    "ApprovalDescription",
    "SourceUri",
    "ModelCard",
    "InferenceSpecification",
    "AdditionalInferenceSpecificationsToAdd",
    "CustomerMetadataProperties",
    "CustomerMetadataPropertiesToRemove",
)


def create_model_package(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.create_model_package(
        group_name=params.get("ModelPackageGroupName"),
        name=params.get("ModelPackageName"),
        approval_status=params.get("ModelApprovalStatus"),
        fields={key: params[key] for key in _PACKAGE_FIELDS if key in params},
        tags=params.get("Tags", []),
    )
    return {"ModelPackageArn": arn}


def describe_model_package(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.sagemaker.describe_model_package(name=params["ModelPackageName"])


def list_model_packages(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    packages = cloud.sagemaker.list_model_packages(
        group_name=params.get("ModelPackageGroupName"),
        package_type=params.get("ModelPackageType"),
        approval_status=params.get("ModelApprovalStatus"),
        name_contains=params.get("NameContains"),
        created_after=_epoch(params.get("CreationTimeAfter")),
        created_before=_epoch(params.get("CreationTimeBefore")),
        sort_by=params.get("SortBy"),
        sort_order=params.get("SortOrder"),
    )
    return _paged("ModelPackageSummaryList", packages, params, 100)


def update_model_package(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.sagemaker.update_model_package(
        arn=params["ModelPackageArn"], changes={key: params[key] for key in _PACKAGE_CHANGES if key in params}
    )
    return {"ModelPackageArn": arn}


def delete_model_package(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.sagemaker.delete_model_package(name=params["ModelPackageName"])
    return {}


OPERATIONS: dict[str, Callable[[LocalCloud, Params], dict[str, Any] | None]] = {
    "CreateModel": create_model,
    "DescribeModel": describe_model,
    "DeleteModel": delete_model,
    "ListModels": list_models,
    "CreateEndpointConfig": create_endpoint_config,
    "DescribeEndpointConfig": describe_endpoint_config,
    "DeleteEndpointConfig": delete_endpoint_config,
    "ListEndpointConfigs": list_endpoint_configs,
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoint": describe_endpoint,
    "ListEndpoints": list_endpoints,
    "DeleteEndpoint": delete_endpoint,
    "UpdateEndpoint": update_endpoint,
    "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
    "CreateModelPackageGroup": create_model_package_group,
    "DescribeModelPackageGroup": describe_model_package_group,
    "ListModelPackageGroups": list_model_package_groups,
    "DeleteModelPackageGroup": delete_model_package_group,
    "CreateModelPackage": create_model_package,
    "DescribeModelPackage": describe_model_package,
    "ListModelPackages": list_model_packages,
    "UpdateModelPackage": update_model_package,
    "DeleteModelPackage": delete_model_package,
}

__all__ = ["OPERATIONS"]
