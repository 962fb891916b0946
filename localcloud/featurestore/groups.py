"""Feature-group definitions: what CreateFeatureGroup accepts (validate_definition) and what the
data path needs of a group (GroupMeta, its offline Parquet schema).

Groups are documents in `cloud.state` (kind "feature-group") shaped like DescribeFeatureGroup
responses, including `OfflineStoreStatus` ({"Status": "Active" | "Blocked", "BlockedReason"}),
which the offline replication sets (DescribeFeatureGroup,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeFeatureGroup.html). The
documents' life cycle (create, describe, list, update, delete) is FeatureStoreBackend's
(models.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from localcloud.errors import AwsError, ValidationException
from localcloud.featurestore.values import ARROW_TYPES, ttl_seconds

KIND = "feature-group"
DEFAULT_CATALOG = "AwsDataCatalog"
DEFAULT_DATABASE = "sagemaker_featurestore"
# Columns the offline store adds to every group; AWS refuses them as feature names.
RESERVED = ("write_time", "api_invocation_time", "is_deleted")


def group_name_of(name_or_arn: str) -> str:
    return name_or_arn.rsplit("feature-group/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def checked_offline_uri(split_uri: Callable[[str], tuple[str, str]], uri: str) -> str:
    """The offline store's S3 prefix (its URI without a trailing '/'), checked by `split_uri`
    (cloud.s3.split_uri). ValidationException if it cannot be used."""
    try:
        split_uri(uri)
    except AwsError as exc:
        raise ValidationException(f"Invalid S3 URI: {exc}") from None
    return uri.rstrip("/")


@dataclass(frozen=True)
class GroupMeta:
    """What the data path needs of a group, prepared once (cached per group)."""

    name: str
    types: dict[str, str]  # feature -> Integral | Fractional | String, definition order
    names: tuple[str, ...]  # online records are JSON arrays aligned with these
    record_id: str
    event_time: str
    online: bool
    offline_uri: str | None  # the offline store's s3:// prefix (no trailing '/'), None = none
    ttl: float | None
    schema: pa.Schema  # offline Parquet schema

    @classmethod
    def from_doc(cls, doc: dict[str, Any], split_uri: Callable[[str], tuple[str, str]]) -> GroupMeta:
        """From a group document; `split_uri` (cloud.s3.split_uri) checks its offline-store URI
        (ValidationException if it cannot be used)."""
        types = {f["FeatureName"]: f["FeatureType"] for f in doc["FeatureDefinitions"]}
        online = doc.get("OnlineStoreConfig") or {}
        offline = doc.get("OfflineStoreConfig")
        offline_uri = (
            checked_offline_uri(split_uri, offline["S3StorageConfig"]["ResolvedOutputS3Uri"]) if offline else None
        )
        return cls(
            doc["FeatureGroupName"],
            types,
            tuple(types),
            doc["RecordIdentifierFeatureName"],
            doc["EventTimeFeatureName"],
            bool(online.get("EnableOnlineStore")),
            offline_uri,
            ttl_seconds(online.get("TtlDuration")),
            offline_schema(types),
        )


def offline_schema(types: dict[str, str]) -> pa.Schema:
    fields = [pa.field(name, ARROW_TYPES[kind]) for name, kind in types.items()]
    # Naive UTC timestamps: Athena (Trino) tables carry no zone.
    fields += [
        pa.field("write_time", pa.timestamp("ms")),
        pa.field("api_invocation_time", pa.timestamp("ms")),
        pa.field("is_deleted", pa.bool_()),
    ]
    return pa.schema(fields)


def validate_definition(params: dict[str, Any], split_uri: Callable[[str], tuple[str, str]]) -> None:
    """A CreateFeatureGroup request's definitions as SageMaker checks them, beyond botocore's
    model; `split_uri` (cloud.s3.split_uri) checks the offline store's S3Uri. Raises
    ValidationException."""
    names = [f["FeatureName"] for f in params["FeatureDefinitions"]]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ValidationException(f"Feature name {name} is duplicated in FeatureDefinitions")
        seen.add(name.lower())
        if name.lower() in RESERVED:
            raise ValidationException(
                f"Feature name {name} is reserved: {', '.join(RESERVED)} are added by the offline store"
            )
    types = {f["FeatureName"]: f["FeatureType"] for f in params["FeatureDefinitions"]}
    rid, etime = params["RecordIdentifierFeatureName"], params["EventTimeFeatureName"]
    if rid not in types:
        raise ValidationException(f"The RecordIdentifierFeatureName {rid} must be one of the FeatureDefinitions")
    if etime not in types:
        raise ValidationException(f"The EventTimeFeatureName {etime} must be one of the FeatureDefinitions")
    if types[rid] not in ("Integral", "String"):
        raise ValidationException(f"The RecordIdentifierFeatureName {rid} must be of type Integral or String")
    if types[etime] not in ("Fractional", "String"):
        raise ValidationException(f"The EventTimeFeatureName {etime} must be of type Fractional or String")
    for f in params["FeatureDefinitions"]:
        if f.get("CollectionType"):
            raise ValidationException(f"localcloud does not support collection features ({f['FeatureName']})")
    online = params.get("OnlineStoreConfig") or {}
    offline = params.get("OfflineStoreConfig")
    if not online.get("EnableOnlineStore") and not offline:
        raise ValidationException("At least one of OnlineStoreConfig and OfflineStoreConfig must be enabled")
    if offline and not offline.get("S3StorageConfig", {}).get("S3Uri", "").startswith("s3://"):
        raise ValidationException("OfflineStoreConfig.S3StorageConfig.S3Uri must be an s3:// URI")
    if offline:
        try:
            split_uri(offline["S3StorageConfig"]["S3Uri"])
        except AwsError as exc:
            raise ValidationException(f"OfflineStoreConfig.S3StorageConfig.S3Uri: {exc}") from None
