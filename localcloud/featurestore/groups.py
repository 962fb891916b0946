"""Feature-group documents: the control plane's state (CreateFeatureGroup, DescribeFeatureGroup,
ListFeatureGroups, UpdateFeatureGroup, DeleteFeatureGroup's document part) and what the data
path needs of a group (GroupMeta).

Groups are documents in `cloud.state` (kind "feature-group") shaped like DescribeFeatureGroup
responses, including `OfflineStoreStatus` ({"Status": "Active" | "Blocked", "BlockedReason"}),
which the offline replication sets (DescribeFeatureGroup,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeFeatureGroup.html).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from localcloud.errors import AwsError, in_use, not_found, validation
from localcloud.featurestore.values import ARROW_TYPES, ttl_seconds
from localcloud.state import AlreadyExists

KIND = "feature-group"
DEFAULT_CATALOG = "AwsDataCatalog"
DEFAULT_DATABASE = "sagemaker_featurestore"
# Columns the offline store adds to every group; AWS refuses them as feature names.
RESERVED = ("write_time", "api_invocation_time", "is_deleted")


def runtime_not_found(name: str) -> AwsError:
    return ResourceNotFound(f"Resource Not Found: Amazon SageMaker can't find a "
                    f"feature group with name {name}")


def group_name_of(name_or_arn: str) -> str:
    return name_or_arn.rsplit("feature-group/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def s3_uri_to_path(s3_root: Path, uri: str) -> Path:
    """The directory an offline store URI names, never outside the object store."""
    from localcloud.s3 import objects
    try:
        return objects.resolve(s3_root, uri.rstrip("/"))
    except objects.ObjectStoreError as exc:
        raise validation(f"Invalid S3 URI: {exc}") from None


@dataclass(frozen=True)
class GroupMeta:
    """What the data path needs of a group, prepared once (cached per group)."""
    name: str
    types: dict[str, str]            # feature -> Integral | Fractional | String, definition order
    names: tuple[str, ...]           # online records are JSON arrays aligned with these
    record_id: str
    event_time: str
    online: bool
    offline_dir: Path | None         # the resolved offline-store directory, None = no offline store
    ttl: float | None
    schema: pa.Schema                # offline Parquet schema

    @classmethod
    def from_doc(cls, doc: dict[str, Any], s3_root: Path) -> GroupMeta:
        types = {f["FeatureName"]: f["FeatureType"] for f in doc["FeatureDefinitions"]}
        online = doc.get("OnlineStoreConfig") or {}
        offline = doc.get("OfflineStoreConfig")
        offline_dir = (s3_uri_to_path(s3_root, offline["S3StorageConfig"]["ResolvedOutputS3Uri"])
                       if offline else None)
        return cls(doc["FeatureGroupName"], types, tuple(types), doc["RecordIdentifierFeatureName"],
                   doc["EventTimeFeatureName"], bool(online.get("EnableOnlineStore")), offline_dir,
                   ttl_seconds(online.get("TtlDuration")), offline_schema(types))


def offline_schema(types: dict[str, str]) -> pa.Schema:
    fields = [pa.field(name, ARROW_TYPES[kind]) for name, kind in types.items()]
    # Naive UTC timestamps: Athena (Trino) tables carry no zone.
    fields += [pa.field("write_time", pa.timestamp("ms")),
               pa.field("api_invocation_time", pa.timestamp("ms")),
               pa.field("is_deleted", pa.bool_())]
    return pa.schema(fields)


def validate_definition(params: dict[str, Any]) -> None:
    names = [f["FeatureName"] for f in params["FeatureDefinitions"]]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise validation(f"Feature name {name} is duplicated in FeatureDefinitions")
        seen.add(name.lower())
        if name.lower() in RESERVED:
            raise validation(f"Feature name {name} is reserved: {', '.join(RESERVED)} are added by "
                             "the offline store")
    types = {f["FeatureName"]: f["FeatureType"] for f in params["FeatureDefinitions"]}
    rid, etime = params["RecordIdentifierFeatureName"], params["EventTimeFeatureName"]
    if rid not in types:
        raise validation(f"The RecordIdentifierFeatureName {rid} must be one of the FeatureDefinitions")
    if etime not in types:
        raise validation(f"The EventTimeFeatureName {etime} must be one of the FeatureDefinitions")
    if types[rid] not in ("Integral", "String"):
        raise validation(f"The RecordIdentifierFeatureName {rid} must be of type Integral or String")
    if types[etime] not in ("Fractional", "String"):
        raise validation(f"The EventTimeFeatureName {etime} must be of type Fractional or String")
    for f in params["FeatureDefinitions"]:
        if f.get("CollectionType"):
            raise validation(f"localcloud does not support collection features ({f['FeatureName']})")
    online = params.get("OnlineStoreConfig") or {}
    offline = params.get("OfflineStoreConfig")
    if not online.get("EnableOnlineStore") and not offline:
        raise validation("At least one of OnlineStoreConfig and OfflineStoreConfig must be enabled")
    if offline and not offline.get("S3StorageConfig", {}).get("S3Uri", "").startswith("s3://"):
        raise validation("OfflineStoreConfig.S3StorageConfig.S3Uri must be an s3:// URI")
    if offline:
        from localcloud.s3 import objects
        try:
            objects.split_uri(offline["S3StorageConfig"]["S3Uri"])
        except objects.ObjectStoreError as exc:
            raise validation(f"OfflineStoreConfig.S3StorageConfig.S3Uri: {exc}") from None


class FeatureGroups:
    """The feature-group documents over the state store."""

    def __init__(self, config: Any, state: Any):
        self.config = config
        self.state = state

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        validate_definition(params)
        name = params["FeatureGroupName"]
        now = time.time()
        epoch = int(now)
        doc: dict[str, Any] = {
            "FeatureGroupArn": self.config.arn("sagemaker", f"feature-group/{name.lower()}"),
            "FeatureGroupName": name,
            "RecordIdentifierFeatureName": params["RecordIdentifierFeatureName"],
            "EventTimeFeatureName": params["EventTimeFeatureName"],
            "FeatureDefinitions": params["FeatureDefinitions"],
            "CreationTime": now,
            "LastModifiedTime": now,
            "FeatureGroupStatus": "Creating",
        }
        if "OnlineStoreConfig" in params:
            doc["OnlineStoreConfig"] = params["OnlineStoreConfig"]
        offline = params.get("OfflineStoreConfig")
        if offline:
            s3 = dict(offline["S3StorageConfig"])
            s3["S3Uri"] = s3["S3Uri"].rstrip("/")
            s3["ResolvedOutputS3Uri"] = (f"{s3['S3Uri']}/{self.config.account_id}/sagemaker/"
                                         f"{self.config.region}/offline-store/{name}-{epoch}/data")
            catalog = {"Catalog": DEFAULT_CATALOG, "Database": DEFAULT_DATABASE,
                       "TableName": f"{name.lower().replace('-', '_')}_{epoch}",
                       **(offline.get("DataCatalogConfig") or {})}
            doc["OfflineStoreConfig"] = {**offline, "S3StorageConfig": s3, "DataCatalogConfig": catalog,
                                         "DisableGlueTableCreation":
                                             offline.get("DisableGlueTableCreation", False)}
            doc["OfflineStoreStatus"] = {"Status": "Active"}
        for key in ("RoleArn", "Description", "ThroughputConfig"):
            if key in params:
                doc[key] = params[key]
        doc.setdefault("ThroughputConfig", {"ThroughputMode": "OnDemand"})
        try:
            self.state.insert(KIND, name, {**doc, "Tags": params.get("Tags", [])})
        except AlreadyExists:
            raise in_use(f"Resource Already Exists: FeatureGroup with name {name} already exists. "
                         "Choose a different name.") from None
        meta = GroupMeta.from_doc(doc, self.config.s3_root)
        if meta.offline_dir is not None:
            meta.offline_dir.mkdir(parents=True, exist_ok=True)
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}

    def doc(self, name_or_arn: str) -> dict[str, Any]:
        name = group_name_of(name_or_arn)
        doc = self.state.get(KIND, name)
        if doc is None:
            raise not_found(f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with "
                            f"name {name}")
        return doc

    def describe(self, name_or_arn: str) -> dict[str, Any]:
        doc = self.doc(name_or_arn)
        if doc["FeatureGroupStatus"] == "Creating":
            # Creation is instant here; the first Describe (what SDK waiters poll) sees it done.
            with self.state.transaction():  # re-read: the replicator may have set the status
                doc = self.state.get(KIND, doc["FeatureGroupName"]) or doc
                doc["FeatureGroupStatus"] = "Created"
                self.state.put(KIND, doc["FeatureGroupName"], doc)
        return {k: v for k, v in doc.items() if k != "Tags"}

    def block_offline_store(self, name: str, reason: str) -> None:
        """OfflineStoreStatus Blocked with its reason (the offline store could not take a record)."""
        with self.state.transaction():
            doc = self.state.get(KIND, name)
            if doc is None or "OfflineStoreStatus" not in doc:
                return
            doc["OfflineStoreStatus"] = {"Status": "Blocked", "BlockedReason": reason[:1024]}
            self.state.put(KIND, name, doc)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.state.list(KIND)
        if "NameContains" in params:
            docs = [d for d in docs if params["NameContains"] in d["FeatureGroupName"]]
        if "FeatureGroupStatusEquals" in params:
            docs = [d for d in docs if d["FeatureGroupStatus"] == params["FeatureGroupStatusEquals"]]
        if "OfflineStoreStatusEquals" in params:
            docs = [d for d in docs if d.get("OfflineStoreStatus", {}).get("Status")
                    == params["OfflineStoreStatusEquals"]]
        if "CreationTimeAfter" in params:
            docs = [d for d in docs if d["CreationTime"] > params["CreationTimeAfter"]]
        if "CreationTimeBefore" in params:
            docs = [d for d in docs if d["CreationTime"] < params["CreationTimeBefore"]]
        sort_by = params.get("SortBy", "CreationTime")
        keys = {"Name": lambda d: d["FeatureGroupName"],
                "FeatureGroupStatus": lambda d: d["FeatureGroupStatus"],
                "OfflineStoreStatus": lambda d: d.get("OfflineStoreStatus", {}).get("Status", ""),
                "CreationTime": lambda d: d["CreationTime"]}
        docs.sort(key=keys[sort_by], reverse=params.get("SortOrder", "Descending") == "Descending")
        start = int(params.get("NextToken") or 0)
        limit = params.get("MaxResults", 10)
        page = docs[start:start + limit]
        summaries = [{"FeatureGroupName": d["FeatureGroupName"], "FeatureGroupArn": d["FeatureGroupArn"],
                      "CreationTime": d["CreationTime"], "FeatureGroupStatus": d["FeatureGroupStatus"],
                      **({"OfflineStoreStatus": d["OfflineStoreStatus"]} if "OfflineStoreStatus" in d else {})}
                     for d in page]
        out: dict[str, Any] = {"FeatureGroupSummaries": summaries}
        if start + limit < len(docs):
            out["NextToken"] = str(start + limit)
        return out

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.doc(params["FeatureGroupName"])
        additions = params.get("FeatureAdditions") or []
        known = {f["FeatureName"].lower() for f in doc["FeatureDefinitions"]}
        for f in additions:
            if f["FeatureName"].lower() in known or f["FeatureName"].lower() in RESERVED:
                raise validation(f"Feature {f['FeatureName']} already exists or is reserved")
            known.add(f["FeatureName"].lower())
        doc["FeatureDefinitions"] = doc["FeatureDefinitions"] + additions
        if "OnlineStoreConfig" in params:
            online = doc.setdefault("OnlineStoreConfig", {})
            online.update(params["OnlineStoreConfig"])
        if "ThroughputConfig" in params:
            doc["ThroughputConfig"] = params["ThroughputConfig"]
        doc["LastModifiedTime"] = time.time()
        doc["LastUpdateStatus"] = {"Status": "Successful"}
        self.state.put(KIND, doc["FeatureGroupName"], doc)
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}
