"""SageMaker Feature Store state: feature-group documents, the online store and the offline store.
One module for now (~690 lines) because the online upsert and the offline journal share one
SQLite transaction (below); the offline writer is the next piece to move out.

- Feature groups are documents in `cloud.state` (kind "feature-group") shaped like
  DescribeFeatureGroup responses.
- The online store is one SQLite table (WAL) in `home/featurestore/online.db`, keyed by
  (group, record id); the newest event time wins, as on AWS.
- The offline store is Parquet under the group's ResolvedOutputS3Uri inside the local object
  store, partitioned by event time like AWS (`year=/month=/day=/hour=`).

Durability: single PutRecords append their offline row to a SQLite journal table in the same
transaction as the online upsert, and a background flusher turns the journal into Parquet (every
FLUSH_SECONDS, at FLUSH_ROWS rows, and on close()). So a crash loses nothing: the journal is
flushed on the next start. Journal flushes are idempotent (the file name derives from the
journal ids), so a crash between writing a file and trimming the journal rewrites the same file.
Bulk ingest writes its Parquet directly (one file per partition) before committing the online
upsert.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from localcloud.errors import AwsError, in_use, not_found, validation
from localcloud.state import AlreadyExists, connect

KIND = "feature-group"
DEFAULT_CATALOG = "AwsDataCatalog"
DEFAULT_DATABASE = "sagemaker_featurestore"
# Columns the offline store adds to every group; AWS refuses them as feature names.
RESERVED = ("write_time", "api_invocation_time", "is_deleted")
FLUSH_ROWS = 5_000
FLUSH_SECONDS = 5.0
TTL_SECONDS = {"Seconds": 1, "Minutes": 60, "Hours": 3600, "Days": 86400, "Weeks": 604800}
ARROW_TYPES = {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}

_ONLINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    group_name TEXT NOT NULL,
    record_id TEXT NOT NULL,
    event_time REAL NOT NULL,
    record TEXT NOT NULL,          -- JSON [ValueAsString | null] in definition order
    expires_at REAL,               -- epoch seconds, NULL = never
    PRIMARY KEY (group_name, record_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offline_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    event_time REAL NOT NULL,
    write_time REAL NOT NULL,
    api_invocation_time REAL NOT NULL,
    is_deleted INTEGER NOT NULL,
    record TEXT NOT NULL
);
"""

# Newest event time wins; an equal event time overwrites (a re-put of the same event).
_UPSERT = (
    "INSERT INTO records(group_name, record_id, event_time, record, expires_at) VALUES (?,?,?,?,?) "
    "ON CONFLICT(group_name, record_id) DO UPDATE SET event_time=excluded.event_time, "
    "record=excluded.record, expires_at=excluded.expires_at "
    "WHERE excluded.event_time >= records.event_time")
_GET = "SELECT record, expires_at FROM records WHERE group_name=? AND record_id=?"
_JOURNAL = ("INSERT INTO offline_journal(group_name, event_time, write_time, api_invocation_time, "
            "is_deleted, record) VALUES (?,?,?,?,?,?)")


def runtime_not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFound", f"Resource Not Found: Amazon SageMaker can't find a "
                    f"feature group with name {name}", 404)


def runtime_validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def group_name_of(name_or_arn: str) -> str:
    return name_or_arn.rsplit("feature-group/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def s3_uri_to_path(s3_root: Path, uri: str) -> Path:
    """The directory an offline store URI names, never outside the object store."""
    from localcloud.s3 import objects
    try:
        return objects.resolve(s3_root, uri.rstrip("/"))
    except objects.ObjectStoreError as exc:
        raise validation(f"Invalid S3 URI: {exc}") from None


def parse_event_time(value: str, feature_type: str, feature: str) -> float:
    """Event time as AWS accepts it: Fractional epoch seconds, or an ISO-8601 String
    (yyyy-MM-dd'T'HH:mm:ssZ or with .SSS); returned as epoch seconds."""
    if feature_type == "Fractional":
        try:
            return float(value)
        except ValueError:
            raise runtime_validation(f"Invalid value {value!r} for the event time feature {feature}: "
                                     "expected Fractional epoch seconds") from None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise runtime_validation(f"Invalid value {value!r} for the event time feature {feature}: "
                                 "expected ISO-8601 yyyy-MM-dd'T'HH:mm:ssZ") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def ttl_seconds(ttl: dict[str, Any] | None) -> float | None:
    if not ttl:
        return None
    return float(ttl["Value"]) * TTL_SECONDS[ttl["Unit"]]


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


# ---------------------------------------------------------------------------- control plane

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


class FeatureStoreBackend:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.config = cloud.config
        self.state = cloud.state
        self.db_path = self.config.home / "featurestore" / "online.db"
        self._local = threading.local()
        self._meta: dict[str, GroupMeta] = {}
        self._flush_lock = threading.Lock()
        self._pending = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._flusher_lock = threading.Lock()
        self._conn().executescript(_ONLINE_SCHEMA)
        # Recovery: whatever a previous process journaled but never flushed goes to Parquet now.
        self.flush_offline()

    # -- connections
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.db_path)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- control plane
    def create_group(self, params: dict[str, Any]) -> dict[str, Any]:
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
        self._meta.pop(name, None)
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}

    def _doc(self, name_or_arn: str) -> dict[str, Any]:
        name = group_name_of(name_or_arn)
        doc = self.state.get(KIND, name)
        if doc is None:
            raise not_found(f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with "
                            f"name {name}")
        return doc

    def describe_group(self, name_or_arn: str) -> dict[str, Any]:
        doc = self._doc(name_or_arn)
        if doc["FeatureGroupStatus"] == "Creating":
            # Creation is instant here; the first Describe (what SDK waiters poll) sees it done.
            doc["FeatureGroupStatus"] = "Created"
            self.state.put(KIND, doc["FeatureGroupName"], doc)
        out = {k: v for k, v in doc.items() if k != "Tags"}
        out["OnlineStoreTotalSizeBytes"] = self.online_size(doc["FeatureGroupName"])
        out["NextToken"] = ""
        return out

    def list_groups(self, params: dict[str, Any]) -> dict[str, Any]:
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
        out["NextToken"] = str(start + limit) if start + limit < len(docs) else ""
        if not out["NextToken"]:
            del out["NextToken"]
        return out

    def delete_group(self, name_or_arn: str) -> None:
        doc = self._doc(name_or_arn)
        name = doc["FeatureGroupName"]
        # The offline store stays (AWS leaves S3 data): flush what is journaled first.
        self.flush_offline()
        with self._tx() as conn:
            conn.execute("DELETE FROM records WHERE group_name=?", (name,))
            conn.execute("DELETE FROM offline_journal WHERE group_name=?", (name,))
        self.state.delete(KIND, name)
        self._meta.pop(name, None)

    def update_group(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._doc(params["FeatureGroupName"])
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
        self._meta.pop(doc["FeatureGroupName"], None)
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}

    def online_size(self, name: str) -> int:
        row = self._conn().execute(
            "SELECT COALESCE(SUM(length(record) + length(record_id) + 16), 0) FROM records "
            "WHERE group_name=?", (name,)).fetchone()
        return int(row[0])

    def meta(self, name_or_arn: str) -> GroupMeta:
        name = group_name_of(name_or_arn)
        meta = self._meta.get(name)
        if meta is None:
            doc = self.state.get(KIND, name)
            if doc is None:
                raise runtime_not_found(name)
            meta = self._meta[name] = GroupMeta.from_doc(doc, self.config.s3_root)
        return meta

    # -- runtime: single records
    def put_record(self, name_or_arn: str, record: list[dict[str, Any]],
                   target_stores: list[str] | None = None, ttl: dict[str, Any] | None = None) -> None:
        meta = self.meta(name_or_arn)
        values: dict[str, str] = {}
        for item in record:
            feature = item["FeatureName"]
            kind = meta.types.get(feature)
            if kind is None:
                raise runtime_validation(f"The feature {feature} is not defined in the feature group "
                                         f"{meta.name}")
            if "ValueAsString" not in item:
                raise runtime_validation(f"The feature {feature} needs a ValueAsString")
            value = item["ValueAsString"]
            _check_value(feature, kind, value)
            values[feature] = value
        for required in (meta.record_id, meta.event_time):
            if required not in values:
                raise runtime_validation(f"The record is missing the feature {required}, which the "
                                         f"feature group {meta.name} requires")
        event_time = parse_event_time(values[meta.event_time], meta.types[meta.event_time],
                                      meta.event_time)
        stores = target_stores or ["OnlineStore", "OfflineStore"]
        ttl_s = ttl_seconds(ttl) if ttl else meta.ttl
        expires = event_time + ttl_s if ttl_s is not None else None
        now = time.time()
        payload = json.dumps(values, separators=(",", ":"))
        # Online: a JSON array in definition order (no repeated keys: smaller rows, faster bulk).
        online = json.dumps([values.get(n) for n in meta.names], separators=(",", ":"))
        with self._tx() as conn:
            if meta.online and "OnlineStore" in stores:
                conn.execute(_UPSERT, (meta.name, values[meta.record_id], event_time, online, expires))
            if meta.offline_dir is not None and "OfflineStore" in stores:
                conn.execute(_JOURNAL, (meta.name, event_time, now, now, 0, payload))
                self._journaled(1)

    def get_record(self, name_or_arn: str, record_id: str, feature_names: list[str] | None = None,
                   with_expiry: bool = False) -> dict[str, Any]:
        """The hot path: one indexed SELECT on a cached per-thread connection."""
        meta = self._meta.get(name_or_arn) or self.meta(name_or_arn)
        row = self._conn().execute(_GET, (meta.name, record_id)).fetchone()
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return {}
        values = json.loads(row[0])
        if feature_names:
            unknown = [f for f in feature_names if f not in meta.types]
            if unknown:
                raise runtime_validation(f"The feature {unknown[0]} is not defined in the feature "
                                         f"group {meta.name}")
            wanted = set(feature_names)
            items = [{"FeatureName": k, "ValueAsString": v} for k, v in zip(meta.names, values)
                     if v is not None and k in wanted]
        else:
            items = [{"FeatureName": k, "ValueAsString": v} for k, v in zip(meta.names, values)
                     if v is not None]
        out: dict[str, Any] = {"Record": items}
        if with_expiry and row[1] is not None:
            out["ExpiresAt"] = iso(row[1])
        return out

    def delete_record(self, name_or_arn: str, record_id: str, event_time: str,
                      target_stores: list[str] | None = None, mode: str = "SoftDelete") -> None:
        meta = self.meta(name_or_arn)
        ts = parse_event_time(event_time, meta.types[meta.event_time], "EventTime")
        stores = target_stores or ["OnlineStore", "OfflineStore"]
        now = time.time()
        with self._tx() as conn:
            if meta.online and "OnlineStore" in stores:
                # A delete older than the stored record does not remove it (newest event wins).
                conn.execute("DELETE FROM records WHERE group_name=? AND record_id=? AND event_time<=?",
                             (meta.name, record_id, ts))
            if meta.offline_dir is not None and "OfflineStore" in stores and mode == "SoftDelete":
                payload = json.dumps({meta.record_id: record_id, meta.event_time: event_time})
                conn.execute(_JOURNAL, (meta.name, ts, now, now, 1, payload))
                self._journaled(1)

    # -- offline journal → Parquet
    def _journaled(self, rows: int) -> None:
        self._pending += rows
        if self._flusher is None:
            with self._flusher_lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_loop, name="featurestore-flush",
                                                     daemon=True)
                    self._flusher.start()
        if self._pending >= FLUSH_ROWS:
            self._wake.set()

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush_offline()
            except Exception:  # keep flushing later; the journal keeps the rows
                import logging
                logging.getLogger("localcloud").exception("feature store offline flush failed")

    def flush_offline(self) -> int:
        """Move journaled offline rows into Parquet; returns the number of rows written."""
        with self._flush_lock:
            conn = self._conn()
            written = 0
            groups = [r[0] for r in conn.execute("SELECT DISTINCT group_name FROM offline_journal")]
            for name in groups:
                rows = conn.execute(
                    "SELECT id, event_time, write_time, api_invocation_time, is_deleted, record "
                    "FROM offline_journal WHERE group_name=? ORDER BY id", (name,)).fetchall()
                try:
                    meta = self.meta(name)
                except AwsError:  # group gone: nothing to write to
                    meta = None
                if meta is not None and meta.offline_dir is not None:
                    self._write_journal_rows(meta, rows)
                    written += len(rows)
                conn.execute("DELETE FROM offline_journal WHERE group_name=? AND id<=?",
                             (name, rows[-1][0]))
            self._pending = 0
            return written

    def _write_journal_rows(self, meta: GroupMeta, rows: list[tuple]) -> None:
        records = [json.loads(r[5]) for r in rows]
        columns: dict[str, pa.Array] = {}
        for name, kind in meta.types.items():
            # Python's int/float: the same parsers that validated the values at PutRecord.
            columns[name] = pa.array([_typed(kind, rec.get(name)) for rec in records], ARROW_TYPES[kind])
        columns["write_time"] = pa.array([int(r[2] * 1000) for r in rows], pa.timestamp("ms"))
        columns["api_invocation_time"] = pa.array([int(r[3] * 1000) for r in rows], pa.timestamp("ms"))
        columns["is_deleted"] = pa.array([bool(r[4]) for r in rows], pa.bool_())
        table = pa.table(columns, schema=meta.schema)
        event_ts = pa.array([int(r[1] * 1_000_000) for r in rows], pa.timestamp("us"))
        # Deterministic name per journal range: a re-flush after a crash overwrites the same file.
        tag = hashlib.sha1(f"{meta.name}:{rows[0][0]}:{rows[-1][0]}".encode()).hexdigest()[:12]
        stamp = dt.datetime.fromtimestamp(rows[0][2], dt.timezone.utc)
        write_partitions(meta.offline_dir, table, event_ts, stamp, tag)

    # -- bulk ingest
    def ingest_table(self, name_or_arn: str, table: pa.Table) -> int:
        """Validate, write the offline Parquet (one file per partition) and upsert the online
        store in one transaction (newest event time wins). Returns the number of records.
        The Parquet write (GIL-free in Arrow) overlaps the SQLite upsert; the online
        transaction commits only once the offline files are in place."""
        meta = self.meta(name_or_arn)
        if table.num_rows == 0:
            return 0
        table, event_ts, event_epoch = coerce_table(meta, table)
        now = time.time()
        offline_job = None
        if meta.offline_dir is not None:
            offline_job = _pool().submit(self._write_bulk_offline, meta, table, event_ts, now)
        try:
            if meta.online:
                with self._tx() as conn:
                    self._upsert_online(conn, meta, table, event_epoch)
                    if offline_job is not None:
                        offline_job.result()  # a failed offline write rolls the online upsert back
        finally:
            if offline_job is not None:
                offline_job.result()  # never return (or raise) with a write still running
        return table.num_rows

    @staticmethod
    def _write_bulk_offline(meta: GroupMeta, table: pa.Table, event_ts: pa.Array, now: float) -> None:
        n = table.num_rows
        now_ms = pa.scalar(int(now * 1000), pa.timestamp("ms"))
        for name, kind in meta.types.items():
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(n, ARROW_TYPES[kind]))
        table = table.append_column("write_time", pa.repeat(now_ms, n))
        table = table.append_column("api_invocation_time", pa.repeat(now_ms, n))
        table = table.append_column("is_deleted", pa.repeat(pa.scalar(False), n))
        table = table.select(meta.schema.names).cast(meta.schema)
        write_partitions(meta.offline_dir, table, event_ts,
                         dt.datetime.fromtimestamp(now, dt.timezone.utc), uuid.uuid4().hex[:12])

    def _upsert_online(self, conn: sqlite3.Connection, meta: GroupMeta, table: pa.Table,
                       event_epoch: pa.Array) -> None:
        # Rows (group, id, event time, JSON array of ValueAsStrings, expiry), built vectorised:
        # Arrow casts to strings, DuckDB writes the JSON; then one executemany.
        import duckdb
        strings = {f"c{i}": _as_strings(table.column(n)) for i, n in enumerate(table.column_names)}
        index = {n: f"c{i}" for i, n in enumerate(table.column_names)}
        strings["__et"] = event_epoch
        values = ", ".join(index.get(n, "NULL::VARCHAR") for n in meta.names)
        expires = f"__et + {meta.ttl!r}" if meta.ttl is not None else "NULL"
        con = duckdb.connect()
        try:
            con.register("t", pa.table(strings))
            rows = con.execute(f"SELECT ?, {index[meta.record_id]}, __et, to_json([{values}])::VARCHAR, "
                               f"{expires} FROM t", [meta.name]).fetchall()
        finally:
            con.close()
        conn.executemany(_UPSERT, rows)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self.flush_offline()


_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="featurestore-offline")
    return _POOL


def _as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


_INTEGRAL = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _check_value(feature: str, kind: str, value: str) -> None:
    """Integral is a 64-bit integer and Fractional a double, as AWS parses them (so the
    offline store's typed columns never meet a value they cannot hold)."""
    if kind == "Integral":
        if not _INTEGRAL.fullmatch(value) or not _INT64[0] <= int(value) <= _INT64[1]:
            raise runtime_validation(f"Invalid value {value!r} for feature {feature} of type Integral: "
                                     "expected a 64-bit integer")
    elif kind == "Fractional":
        try:
            if "_" in value:
                raise ValueError
            float(value)
        except ValueError:
            raise runtime_validation(f"Invalid value {value!r} for feature {feature} of type "
                                     "Fractional: expected a number") from None


def _typed(kind: str, value: str | None) -> Any:
    if value is None or kind == "String":
        return value
    return int(value) if kind == "Integral" else float(value)


def coerce_table(meta: GroupMeta, table: pa.Table) -> tuple[pa.Table, pa.Array, pa.Array]:
    """Check the columns against the definitions and cast them (one vectorised pass per column).
    Returns the cast table, the event time as timestamp[us] and as epoch seconds (float)."""
    unknown = [c for c in table.column_names if c not in meta.types]
    if unknown:
        raise runtime_validation(f"The feature {unknown[0]} is not defined in the feature group {meta.name}")
    for required in (meta.record_id, meta.event_time):
        if required not in table.column_names:
            raise runtime_validation(f"The records are missing the feature {required}, which the "
                                     f"feature group {meta.name} requires")
        if table.column(required).null_count:
            raise runtime_validation(f"The feature {required} must not be null")
    cast: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        kind, column = meta.types[name], table.column(name)
        target = ARROW_TYPES[kind]
        try:
            if kind == "Integral" and pa.types.is_floating(column.type):
                cast[name] = pc.cast(column, target, safe=True)  # refuses 1.5, accepts 2.0
            elif kind in ("Integral", "Fractional") and (pa.types.is_string(column.type)
                                                         or pa.types.is_large_string(column.type)):
                cast[name] = pc.cast(pc.utf8_trim_whitespace(column), target)
            elif kind == "String":
                cast[name] = _as_strings(column)
            else:
                cast[name] = pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise runtime_validation(f"Invalid values for feature {name} of type {kind}: {exc}") from None
    out = pa.table(cast)
    et = out.column(meta.event_time)
    try:
        if meta.types[meta.event_time] == "Fractional":
            epoch = et
            ts = pc.cast(pc.cast(pc.multiply(et, 1_000_000), pa.int64(), safe=False), pa.timestamp("us"))
        else:
            ts = pc.cast(pc.cast(et, pa.timestamp("us", tz="UTC")), pa.timestamp("us"))
            epoch = pc.divide(pc.cast(pc.cast(ts, pa.int64()), pa.float64()), 1_000_000.0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise runtime_validation(f"Invalid event times in feature {meta.event_time}: {exc}") from None
    return out, _flat(ts), _flat(epoch)


def _flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def write_partitions(root: Path, table: pa.Table, event_ts: pa.Array, stamp: dt.datetime,
                     tag: str) -> list[Path]:
    """One Parquet file per event-time hour under year=/month=/day=/hour=, written to a temp
    name and renamed so readers never see half a file."""
    hours = pc.strftime(event_ts, format="year=%Y/month=%m/day=%d/hour=%H")
    written = []
    name = f"{stamp.strftime('%Y%m%dT%H%M%SZ')}_{tag}.parquet"
    parts = pc.unique(hours).to_pylist()
    for part in parts:
        subset = table.filter(pc.equal(hours, part)) if len(parts) > 1 else table
        directory = root / part
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / name
        tmp = directory / f".{name}.{uuid.uuid4().hex[:6]}.tmp"
        pq.write_table(subset, tmp, compression="snappy")
        os.replace(tmp, final)
        written.append(final)
    return written
