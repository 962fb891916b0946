"""SageMaker Model Registry: model package groups and (versioned) model packages.

`ModelRegistry` is the registry's part of `SageMakerBackend` (localcloud.sagemaker.models, reached
as `cloud.sagemaker`): its state and behaviour, with keyword arguments; the wire operations are
in localcloud.sagemaker.responses. Documents are stored shaped like their Describe* responses
(times as epoch floats; `wire` renders them). Keys starting with "_" are bookkeeping that never
goes over the wire. Source: API_CreateModelPackage, API_ListModelPackages and their siblings in
the SageMaker API reference.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from localcloud.errors import ValidationException
from localcloud.sagemaker import service_events
from localcloud.sagemaker.exceptions import ConflictException
from localcloud.sagemaker.store import wire
from localcloud.state import AlreadyExists

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

GROUP = "model-package-group"
PACKAGE = "model-package"  # name: "<group>/<version>" or an unversioned package's name

APPROVAL_DEFAULT = "PendingManualApproval"

_SUMMARY_FIELDS = (
    "ModelPackageName",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
)
_GROUP_SUMMARY_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageGroupArn",
    "ModelPackageGroupDescription",
    "CreationTime",
    "ModelPackageGroupStatus",
)


def drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def _group_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("model-package-group/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _in_window(doc: dict[str, Any], after: float | None, before: float | None) -> bool:
    return (after is None or doc["CreationTime"] > after) and (before is None or doc["CreationTime"] < before)


class ModelRegistry:
    """Model package groups and model packages of one LocalCloud (a base of SageMakerBackend).
    Missing groups and packages raise ValidationException, as SageMaker answers."""

    cloud: LocalCloud

    # -- groups -------------------------------------------------------------------------------

    def group_arn(self, name: str) -> str:
        return self.cloud.config.arn("sagemaker", f"model-package-group/{name.lower()}")

    def _group(self, name_or_arn: str) -> dict[str, Any]:
        """The group of a name or ARN, matched ignoring case: names that differ only in case
        are one group, with one (lower-cased) ARN, as SageMaker has it."""
        name = _group_name(name_or_arn)
        doc = self.cloud.state.get_ignoring_case(GROUP, name, "ModelPackageGroupName")
        if doc is None:
            raise ValidationException(f"Model Package Group with name {name} does not exist.")
        return doc

    def create_model_package_group(
        self, *, name: str, description: str | None = None, tags: list[dict[str, str]] | None = None
    ) -> str:
        """The new group's ARN. ValidationException if it exists, under this name in any case."""
        doc = drop_none(
            {
                "ModelPackageGroupName": name,
                "ModelPackageGroupArn": self.group_arn(name),
                "ModelPackageGroupDescription": description,
                "CreationTime": time.time(),
                "ModelPackageGroupStatus": "Completed",
                "_Tags": tags or [],
            }
        )
        refusal = f"Model Package Group already exists: {doc['ModelPackageGroupArn']}"
        state = self.cloud.state
        with state.transaction():
            if state.get_ignoring_case(GROUP, name, "ModelPackageGroupName") is not None:
                raise ValidationException(refusal)
            try:
                state.insert(GROUP, name, doc)
            except AlreadyExists:
                raise ValidationException(refusal) from None
        return str(doc["ModelPackageGroupArn"])

    def describe_model_package_group(self, *, name: str) -> dict[str, Any]:
        """DescribeModelPackageGroup's response for a group name or ARN."""
        return wire(self._group(name))

    def list_model_package_groups(
        self,
        *,
        name_contains: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[dict[str, Any]]:
        """ModelPackageGroupSummary dicts, filtered and sorted (oldest first by default)."""
        docs = self.cloud.state.list(GROUP)
        if name_contains:
            docs = [d for d in docs if name_contains in d["ModelPackageGroupName"]]
        docs = [d for d in docs if _in_window(d, created_after, created_before)]
        key = "ModelPackageGroupName" if sort_by == "Name" else "CreationTime"
        docs.sort(key=lambda d: d[key], reverse=(sort_order or "Ascending") == "Descending")
        return [wire({f: d[f] for f in _GROUP_SUMMARY_FIELDS if f in d}) for d in docs]

    def delete_model_package_group(self, *, name: str) -> None:
        """ConflictException while the group holds packages (AWS refuses it too)."""
        state = self.cloud.state
        with state.transaction():
            doc = self._group(name)
            found = doc["ModelPackageGroupName"]
            if state.list(PACKAGE, found + "/"):
                raise ConflictException(f"Model Package Group {found} contains model packages; delete them first")
            state.delete(GROUP, found)

    # -- packages -----------------------------------------------------------------------------

    def package_arn(self, name: str, version: int | None = None) -> str:
        resource = f"model-package/{name.lower()}" + (f"/{version}" if version is not None else "")
        return self.cloud.config.arn("sagemaker", resource)

    def _package_key(self, name_or_arn: str) -> str:
        """The state key of a package from its ARN (versioned or not) or an unversioned name."""
        if not name_or_arn.startswith("arn:"):
            return name_or_arn
        resource = name_or_arn.split(":model-package/", 1)[-1]
        group, _, version = resource.rpartition("/")
        if group and version.isdigit():
            # ARNs lower-case the group name; find the group's real spelling.
            doc = self.cloud.state.get_ignoring_case(GROUP, group, "ModelPackageGroupName")
            return f"{doc['ModelPackageGroupName'] if doc else group}/{version}"
        for doc in self.cloud.state.list(PACKAGE):
            if doc["ModelPackageArn"] == name_or_arn:
                return str(doc["ModelPackageName"])
        return resource

    def get_package(self, name_or_arn: str) -> dict[str, Any]:
        """The stored package document (also used by CreateModel's ModelPackageName).
        ValidationException if there is none."""
        doc = self.cloud.state.get(PACKAGE, self._package_key(name_or_arn))
        if doc is None:
            raise ValidationException(f"ModelPackage {name_or_arn} does not exist.")
        return doc

    def create_model_package(
        self,
        *,
        group_name: str | None = None,
        name: str | None = None,
        approval_status: str | None = None,
        fields: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """The new package's ARN: a version of `group_name`, or the unversioned `name` (exactly
        one of them). `fields` are CreateModelPackage's stored-as-given members
        (ModelPackageDescription, InferenceSpecification, ModelMetrics, ...; None members are
        dropped). ValidationException for both/neither names, a non-s3 ModelDataUrl, a missing
        group or an existing unversioned package."""
        if bool(group_name) == bool(name):
            raise ValidationException(
                "Exactly one of ModelPackageName (unversioned) or ModelPackageGroupName (versioned) must be given"
            )
        given = dict(fields or {})
        _check_inference(given.get("InferenceSpecification"))
        stamp = time.time()
        state = self.cloud.state
        with state.transaction():
            version: int | None
            if group_name:
                group_name = str(self._group(group_name)["ModelPackageGroupName"])
                version = state.next_value("mpg:" + group_name)
                key, arn = f"{group_name}/{version}", self.package_arn(group_name, version)
            else:
                assert name is not None
                version = None
                key, arn = name, self.package_arn(name)
                if state.get(PACKAGE, key) is not None:
                    raise ValidationException(f"Model Package {name} already exists: {arn}")
            doc = drop_none(
                {
                    "ModelPackageName": group_name or name,
                    "ModelPackageGroupName": group_name,
                    "ModelPackageVersion": version,
                    "ModelPackageArn": arn,
                    "ModelPackageDescription": given.get("ModelPackageDescription"),
                    "CreationTime": stamp,
                    "LastModifiedTime": stamp,
                    "InferenceSpecification": given.get("InferenceSpecification"),
                    "SourceAlgorithmSpecification": given.get("SourceAlgorithmSpecification"),
                    "ValidationSpecification": given.get("ValidationSpecification"),
                    "ModelPackageStatus": "Completed",
                    "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                    "CertifyForMarketplace": given.get("CertifyForMarketplace", False),
                    "ModelApprovalStatus": approval_status or APPROVAL_DEFAULT,
                    "MetadataProperties": given.get("MetadataProperties"),
                    "ModelMetrics": given.get("ModelMetrics"),
                    "DriftCheckBaselines": given.get("DriftCheckBaselines"),
                    "Domain": given.get("Domain"),
                    "Task": given.get("Task"),
                    "SamplePayloadUrl": given.get("SamplePayloadUrl"),
                    "CustomerMetadataProperties": given.get("CustomerMetadataProperties"),
                    "AdditionalInferenceSpecifications": given.get("AdditionalInferenceSpecifications"),
                    "SkipModelValidation": given.get("SkipModelValidation"),
                    "SourceUri": given.get("SourceUri"),
                    "ModelCard": given.get("ModelCard"),
                    "_Tags": tags or [],
                    "_Key": key,
                }
            )
            state.put(PACKAGE, key, doc)
        service_events.model_package_changed(self.cloud, doc)  # once committed: a rule may act on it
        return arn

    def describe_model_package(self, *, name: str) -> dict[str, Any]:
        """DescribeModelPackage's response for a package name or ARN."""
        return wire(self.get_package(name))

    def list_model_packages(
        self,
        *,
        group_name: str | None = None,
        package_type: str | None = None,
        approval_status: str | None = None,
        name_contains: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[dict[str, Any]]:
        """ModelPackageSummary dicts, filtered and sorted (oldest first by default)."""
        state = self.cloud.state
        if group_name:
            group_name = str(self._group(group_name)["ModelPackageGroupName"])
            docs = state.list(PACKAGE, group_name + "/")
            docs = [d for d in docs if d.get("ModelPackageGroupName") == group_name]
        else:
            docs = state.list(PACKAGE)
        # API_ListModelPackages: "UNVERSIONED ... is the default value if no ModelPackageType is
        # specified". A group filter names versions ("returns only model versions that belong to the
        # specified model group"), so with a group the default is its versions.
        kind = package_type or ("Versioned" if group_name else "Unversioned")
        if kind == "Versioned":
            docs = [d for d in docs if "ModelPackageVersion" in d]
        elif kind == "Unversioned":
            docs = [d for d in docs if "ModelPackageVersion" not in d]
        if approval_status:
            docs = [d for d in docs if d["ModelApprovalStatus"] == approval_status]
        if name_contains:
            docs = [d for d in docs if name_contains in d["ModelPackageName"]]
        docs = [d for d in docs if _in_window(d, created_after, created_before)]
        first = "ModelPackageName" if sort_by == "Name" else "CreationTime"
        docs.sort(
            key=lambda d: (d[first], d.get("ModelPackageVersion", 0)),
            reverse=(sort_order or "Ascending") == "Descending",
        )
        return [wire({f: d[f] for f in _SUMMARY_FIELDS if f in d}) for d in docs]

    def update_model_package(self, *, arn: str, changes: dict[str, Any]) -> str:
        """Apply UpdateModelPackage's members in `changes` (ModelApprovalStatus,
        ApprovalDescription, SourceUri, ModelCard, InferenceSpecification,
        AdditionalInferenceSpecificationsToAdd, CustomerMetadataProperties[ToRemove]); the ARN."""
        state = self.cloud.state
        with state.transaction():
            doc = self.get_package(arn)
            before = copy.deepcopy(doc)
            for key in (
                "ModelApprovalStatus",
                "ApprovalDescription",
                "SourceUri",
                "ModelCard",
                "InferenceSpecification",
            ):
                if key in changes:
                    doc[key] = changes[key]
            if "AdditionalInferenceSpecificationsToAdd" in changes:
                doc.setdefault("AdditionalInferenceSpecifications", []).extend(
                    changes["AdditionalInferenceSpecificationsToAdd"]
                )
            if "CustomerMetadataProperties" in changes:
                doc.setdefault("CustomerMetadataProperties", {}).update(changes["CustomerMetadataProperties"])
            for removed in changes.get("CustomerMetadataPropertiesToRemove", []):
                doc.get("CustomerMetadataProperties", {}).pop(removed, None)
            changed = doc != before
            doc["LastModifiedTime"] = time.time()
            state.put(PACKAGE, doc["_Key"], doc)
        if changed:  # an approval change is a state change SageMaker announces
            service_events.model_package_changed(self.cloud, doc)
        return str(doc["ModelPackageArn"])

    def delete_model_package(self, *, name: str) -> None:
        state = self.cloud.state
        with state.transaction():
            doc = self.get_package(name)
            state.delete(PACKAGE, doc["_Key"])


def _check_inference(spec: dict[str, Any] | None) -> None:
    if spec is None:
        return
    for container in spec.get("Containers", []):
        uri = container.get("ModelDataUrl")
        if uri is not None and not uri.startswith("s3://"):
            raise ValidationException(f"ModelDataUrl {uri} must be an s3:// URI")
