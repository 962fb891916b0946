"""SageMaker Model Registry: model package groups and (versioned) model packages.

Documents are stored shaped like their Describe* responses (times as epoch floats; `wire`
renders them). Keys starting with "_" are bookkeeping that never goes over the wire.
"""
from __future__ import annotations

import time
from typing import Any

from localcloud.errors import AwsError, validation
from localcloud.json_api import page_start
from localcloud.state import AlreadyExists
from localcloud.sagemaker.store import wire

GROUP = "model-package-group"
PACKAGE = "model-package"          # name: "<group>/<version>" or an unversioned package's name

APPROVAL_DEFAULT = "PendingManualApproval"


def _page(items: list[Any], params: dict[str, Any], default_max: int = 100) -> tuple[list[Any], str | None]:
    start = page_start(params)
    size = params.get("MaxResults") or default_max
    return items[start:start + size], (str(start + size) if start + size < len(items) else None)


def _with_token(payload: dict[str, Any], token: str | None) -> dict[str, Any]:
    return {**payload, "NextToken": token} if token else payload


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


# -- groups -----------------------------------------------------------------------------------

def group_arn(cloud: Any, name: str) -> str:
    return cloud.config.arn("sagemaker", f"model-package-group/{name.lower()}")


def _group_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("model-package-group/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _group(cloud: Any, name_or_arn: str) -> dict[str, Any]:
    name = _group_name(name_or_arn)
    doc = (cloud.state.get_ignoring_case(GROUP, name, "ModelPackageGroupName")
           if name_or_arn.startswith("arn:") else cloud.state.get(GROUP, name))
    if doc is None:
        raise validation(f"Model Package Group with name {name} does not exist.")
    return doc


def create_model_package_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelPackageGroupName"]
    doc = _drop_none({
        "ModelPackageGroupName": name, "ModelPackageGroupArn": group_arn(cloud, name),
        "ModelPackageGroupDescription": params.get("ModelPackageGroupDescription"),
        "CreationTime": time.time(), "ModelPackageGroupStatus": "Completed",
        "_Tags": params.get("Tags", []),
    })
    try:
        cloud.state.insert(GROUP, name, doc)
    except AlreadyExists:
        raise validation(f"Model Package Group already exists: {doc['ModelPackageGroupArn']}") from None
    return {"ModelPackageGroupArn": doc["ModelPackageGroupArn"]}


def describe_model_package_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(_group(cloud, params["ModelPackageGroupName"]))


def list_model_package_groups(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    docs = cloud.state.list(GROUP)
    if params.get("NameContains"):
        docs = [d for d in docs if params["NameContains"] in d["ModelPackageGroupName"]]
    after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
    docs = [d for d in docs if (after is None or d["CreationTime"] > _epoch(after))
            and (before is None or d["CreationTime"] < _epoch(before))]
    key = "ModelPackageGroupName" if params.get("SortBy") == "Name" else "CreationTime"
    docs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Ascending") == "Descending")
    page, token = _page(docs, params)
    fields = ("ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription",
              "CreationTime", "ModelPackageGroupStatus")
    return _with_token({"ModelPackageGroupSummaryList":
                        [wire({f: d[f] for f in fields if f in d}) for d in page]}, token)


def delete_model_package_group(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    with cloud.state.transaction():
        doc = _group(cloud, params["ModelPackageGroupName"])
        name = doc["ModelPackageGroupName"]
        if cloud.state.list(PACKAGE, name + "/"):   # AWS refuses to delete a non-empty group
            raise AwsError("ConflictException",
                           f"Model Package Group {name} contains model packages; delete them first")
        cloud.state.delete(GROUP, name)
    return {}


# -- packages ---------------------------------------------------------------------------------

def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def package_arn(cloud: Any, name: str, version: int | None = None) -> str:
    resource = f"model-package/{name.lower()}" + (f"/{version}" if version is not None else "")
    return cloud.config.arn("sagemaker", resource)


def _package_key(cloud: Any, name_or_arn: str) -> str:
    """The state key of a package from its ARN (versioned or not) or an unversioned name."""
    if not name_or_arn.startswith("arn:"):
        return name_or_arn
    resource = name_or_arn.split(":model-package/", 1)[-1]
    group, _, version = resource.rpartition("/")
    if group and version.isdigit():
        # ARNs lower-case the group name; find the group's real spelling.
        doc = cloud.state.get_ignoring_case(GROUP, group, "ModelPackageGroupName")
        return f"{doc['ModelPackageGroupName'] if doc else group}/{version}"
    for doc in cloud.state.list(PACKAGE):
        if doc["ModelPackageArn"] == name_or_arn:
            return doc["ModelPackageName"]
    return resource


def get_package(cloud: Any, name_or_arn: str) -> dict[str, Any]:
    """The stored package document (also used by CreateModel's ModelPackageName)."""
    doc = cloud.state.get(PACKAGE, _package_key(cloud, name_or_arn))
    if doc is None:
        raise validation(f"ModelPackage {name_or_arn} does not exist.")
    return doc


def _check_inference(spec: dict[str, Any] | None) -> None:
    if spec is None:
        return
    for container in spec.get("Containers", []):
        uri = container.get("ModelDataUrl")
        if uri is not None and not uri.startswith("s3://"):
            raise validation(f"ModelDataUrl {uri} must be an s3:// URI")


def create_model_package(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    group_name = params.get("ModelPackageGroupName")
    name = params.get("ModelPackageName")
    if bool(group_name) == bool(name):
        raise validation("Exactly one of ModelPackageName (unversioned) or ModelPackageGroupName "
                         "(versioned) must be given")
    _check_inference(params.get("InferenceSpecification"))
    status = params.get("ModelApprovalStatus", APPROVAL_DEFAULT)
    stamp = time.time()
    with cloud.state.transaction():
        if group_name:
            group = _group(cloud, group_name)
            group_name = group["ModelPackageGroupName"]
            version = cloud.state.next_value("mpg:" + group_name)
            key, arn = f"{group_name}/{version}", package_arn(cloud, group_name, version)
        else:
            version = None
            key, arn = name, package_arn(cloud, name)
            if cloud.state.get(PACKAGE, key) is not None:
                raise validation(f"Model Package {name} already exists: {arn}")
        doc = _drop_none({
            "ModelPackageName": group_name or name,
            "ModelPackageGroupName": group_name,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelPackageDescription": params.get("ModelPackageDescription"),
            "CreationTime": stamp,
            "LastModifiedTime": stamp,
            "InferenceSpecification": params.get("InferenceSpecification"),
            "SourceAlgorithmSpecification": params.get("SourceAlgorithmSpecification"),
            "ValidationSpecification": params.get("ValidationSpecification"),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": params.get("CertifyForMarketplace", False),
            "ModelApprovalStatus": status,
            "MetadataProperties": params.get("MetadataProperties"),
            "ModelMetrics": params.get("ModelMetrics"),
            "DriftCheckBaselines": params.get("DriftCheckBaselines"),
            "Domain": params.get("Domain"),
            "Task": params.get("Task"),
            "SamplePayloadUrl": params.get("SamplePayloadUrl"),
            "CustomerMetadataProperties": params.get("CustomerMetadataProperties"),
            "AdditionalInferenceSpecifications": params.get("AdditionalInferenceSpecifications"),
            "SkipModelValidation": params.get("SkipModelValidation"),
            "SourceUri": params.get("SourceUri"),
            "ModelCard": params.get("ModelCard"),
            "_Tags": params.get("Tags", []),
            "_Key": key,
        })
        cloud.state.put(PACKAGE, key, doc)
    return {"ModelPackageArn": arn}


def describe_model_package(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return wire(get_package(cloud, params["ModelPackageName"]))


_SUMMARY_FIELDS = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion",
                   "ModelPackageArn", "ModelPackageDescription", "CreationTime",
                   "ModelPackageStatus", "ModelApprovalStatus")


def list_model_packages(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("ModelPackageGroupName")
    if group:
        group = _group(cloud, group)["ModelPackageGroupName"]
        docs = cloud.state.list(PACKAGE, group + "/")
        docs = [d for d in docs if d.get("ModelPackageGroupName") == group]
    else:
        docs = cloud.state.list(PACKAGE)
    # API_ListModelPackages: "UNVERSIONED ... is the default value if no ModelPackageType is
    # specified". A group filter names versions ("returns only model versions that belong to the
    # specified model group"), so with a group the default is its versions.
    kind = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
    if kind == "Versioned":
        docs = [d for d in docs if "ModelPackageVersion" in d]
    elif kind == "Unversioned":
        docs = [d for d in docs if "ModelPackageVersion" not in d]
    if params.get("ModelApprovalStatus"):
        docs = [d for d in docs if d["ModelApprovalStatus"] == params["ModelApprovalStatus"]]
    if params.get("NameContains"):
        docs = [d for d in docs if params["NameContains"] in d["ModelPackageName"]]
    after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
    docs = [d for d in docs if (after is None or d["CreationTime"] > _epoch(after))
            and (before is None or d["CreationTime"] < _epoch(before))]
    if params.get("SortBy") == "Name":
        sort_key = lambda d: (d["ModelPackageName"], d.get("ModelPackageVersion", 0))  # noqa: E731
    else:
        sort_key = lambda d: (d["CreationTime"], d.get("ModelPackageVersion", 0))  # noqa: E731
    docs.sort(key=sort_key, reverse=params.get("SortOrder", "Ascending") == "Descending")
    page, token = _page(docs, params)
    return _with_token({"ModelPackageSummaryList":
                        [wire({f: d[f] for f in _SUMMARY_FIELDS if f in d}) for d in page]}, token)


def update_model_package(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    with cloud.state.transaction():
        doc = get_package(cloud, params["ModelPackageArn"])
        for key in ("ModelApprovalStatus", "ApprovalDescription", "SourceUri", "ModelCard",
                    "InferenceSpecification"):
            if key in params:
                doc[key] = params[key]
        if "AdditionalInferenceSpecificationsToAdd" in params:
            doc.setdefault("AdditionalInferenceSpecifications", []).extend(
                params["AdditionalInferenceSpecificationsToAdd"])
        if "CustomerMetadataProperties" in params:
            doc.setdefault("CustomerMetadataProperties", {}).update(params["CustomerMetadataProperties"])
        for removed in params.get("CustomerMetadataPropertiesToRemove", []):
            doc.get("CustomerMetadataProperties", {}).pop(removed, None)
        doc["LastModifiedTime"] = time.time()
        cloud.state.put(PACKAGE, doc["_Key"], doc)
    return {"ModelPackageArn": doc["ModelPackageArn"]}


def delete_model_package(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    with cloud.state.transaction():
        doc = get_package(cloud, params["ModelPackageName"])
        cloud.state.delete(PACKAGE, doc["_Key"])
    return {}


OPERATIONS = {
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

__all__ = ["OPERATIONS", "get_package", "package_arn", "group_arn"]
