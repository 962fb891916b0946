"""SageMaker Feature Store: the backend reached as `cloud.featurestore`, which the control plane
and the runtime (responses.py) call and Athena reads the offline store through. It holds the
feature-group documents' life cycle (CreateFeatureGroup, DescribeFeatureGroup,
ListFeatureGroups, UpdateFeatureGroup, DeleteFeatureGroup) and the records' (PutRecord,
GetRecord, DeleteRecord, localcloud's bulk ingest), over the concerns, one module each:

- groups.py: what a definition must satisfy, and GroupMeta (what the data path needs of a group);
- values.py: value checks at the edge (event-time formats, Integral / Fractional notation);
- online.py: the online store (SQLite, newest event time wins, tombstones);
- replication.py: asynchronous, delayed replication of accepted records to the offline store;
- offline.py: the offline store as Athena's tables (DuckDB views over the Parquet files).

Every write commits its online change and its offline journal entry in one SQLite transaction
(online.db, WAL), so the offline store receives exactly what the online store accepted.

Errors (localcloud.featurestore.exceptions): the control plane raises ResourceNotFound,
ResourceInUse and ValidationException, as SageMaker answers; the runtime raises
FeatureGroupNotFound (404) and ValidationError, as the feature-store runtime answers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from localcloud.errors import ValidationException
from localcloud.featurestore import offline as offline_store
from localcloud.featurestore import online as online_store
from localcloud.featurestore.exceptions import FeatureGroupNotFound, ResourceInUse, ResourceNotFound, ValidationError
from localcloud.featurestore.groups import (
    DEFAULT_CATALOG,
    DEFAULT_DATABASE,
    KIND,
    RESERVED,
    GroupMeta,
    group_name_of,
    validate_definition,
)
from localcloud.featurestore.replication import BATCH, JOURNAL, OfflineReplicator
from localcloud.featurestore.values import (
    ARROW_TYPES,
    as_strings,
    check_value,
    coerce_table,
    iso,
    parse_event_time,
    ttl_seconds,
)
from localcloud.state import AlreadyExists, ThreadConnections, immediate

if TYPE_CHECKING:
    import duckdb

    from localcloud.cloud import LocalCloud

__all__ = ["KIND", "FeatureStoreBackend", "GroupMeta"]

# ListFeatureGroups' SortBy -> the document's sort key.
_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Name": lambda d: d["FeatureGroupName"],
    "FeatureGroupStatus": lambda d: d["FeatureGroupStatus"],
    "OfflineStoreStatus": lambda d: d.get("OfflineStoreStatus", {}).get("Status", ""),
    "CreationTime": lambda d: d["CreationTime"],
}


class FeatureStoreBackend:
    """Feature groups and their online and offline stores, of one localcloud home."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.config = cloud.config
        self.state = cloud.state
        self.db_path = self.config.home / "featurestore" / "online.db"
        self._conn = ThreadConnections(self.db_path)
        self._meta: dict[str, GroupMeta] = {}
        self._conn().executescript(online_store.SCHEMA)
        self.replicator = OfflineReplicator(
            self._conn,
            self.meta,
            self.block_offline_store,
            self.config.home / "featurestore" / "staging",
            self.config.offline_store_delay,
            lambda source, uri: self.cloud.s3.put_file(source, uri, move=True),
        )
        # Whatever a previous process accepted but never replicated follows its delay from here.
        self.replicator.start()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction on this thread's connection (state.immediate)."""
        return immediate(self._conn())

    # -- control plane -----------------------------------------------------------------------
    def create_group(self, params: dict[str, Any]) -> dict[str, Any]:
        """CreateFeatureGroup: `params` is its request (already valid for botocore's model);
        returns {"FeatureGroupArn"}. ValidationException for definitions SageMaker refuses,
        ResourceInUse if the name is taken. The group's offline-store directory is created."""
        validate_definition(params, self.cloud.s3.split_uri)
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
            s3["ResolvedOutputS3Uri"] = (
                f"{s3['S3Uri']}/{self.config.account_id}/sagemaker/"
                f"{self.config.region}/offline-store/{name}-{epoch}/data"
            )
            catalog = {
                "Catalog": DEFAULT_CATALOG,
                "Database": DEFAULT_DATABASE,
                "TableName": f"{name.lower().replace('-', '_')}_{epoch}",
                **(offline.get("DataCatalogConfig") or {}),
            }
            doc["OfflineStoreConfig"] = {
                **offline,
                "S3StorageConfig": s3,
                "DataCatalogConfig": catalog,
                "DisableGlueTableCreation": offline.get("DisableGlueTableCreation", False),
            }
            doc["OfflineStoreStatus"] = {"Status": "Active"}
        for key in ("RoleArn", "Description", "ThroughputConfig"):
            if key in params:
                doc[key] = params[key]
        doc.setdefault("ThroughputConfig", {"ThroughputMode": "OnDemand"})
        refusal = f"Resource Already Exists: FeatureGroup with name {name} already exists. Choose a different name."
        with self.state.transaction():
            # Names differing only in case are one group (one lower-cased ARN, one Glue table).
            if self._find(name) is not None:
                raise ResourceInUse(refusal)
            try:
                self.state.insert(KIND, name, {**doc, "Tags": params.get("Tags", [])})
            except AlreadyExists:
                raise ResourceInUse(refusal) from None
        self._forget(name)
        meta = GroupMeta.from_doc(doc, self.cloud.s3.split_uri)
        if meta.offline_uri is not None:  # as before: the offline store's bucket is made if missing
            self.cloud.s3.create_bucket(self.cloud.s3.split_uri(meta.offline_uri)[0])
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}

    def _find(self, name: str) -> dict[str, Any] | None:
        """The group named `name` in any case: SageMaker's names that differ only in case are
        one resource, with one (lower-cased) ARN; an ARN names the group lower-cased."""
        return self.state.get_ignoring_case(KIND, name, "FeatureGroupName")

    def _forget(self, name: str) -> None:
        """Drop the cached GroupMeta of a group, under whichever case it was looked up."""
        for key in [k for k in list(self._meta) if k.lower() == name.lower()]:
            self._meta.pop(key, None)

    def _doc(self, name_or_arn: str) -> dict[str, Any]:
        name = group_name_of(name_or_arn)
        doc = self._find(name)
        if doc is None:
            raise ResourceNotFound(f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with name {name}")
        return doc

    def describe_group(self, name_or_arn: str) -> dict[str, Any]:
        """DescribeFeatureGroup's response (ResourceNotFound if there is no such group)."""
        doc = self._doc(name_or_arn)
        if doc["FeatureGroupStatus"] == "Creating":
            # Creation is instant here; the first Describe (what SDK waiters poll) sees it done.
            with self.state.transaction():  # re-read: the replicator may have set the status
                doc = self.state.get(KIND, doc["FeatureGroupName"]) or doc
                doc["FeatureGroupStatus"] = "Created"
                self.state.put(KIND, doc["FeatureGroupName"], doc)
        out = {k: v for k, v in doc.items() if k != "Tags"}
        out["OnlineStoreTotalSizeBytes"] = online_store.size_bytes(self._conn(), out["FeatureGroupName"])
        out["NextToken"] = ""
        return out

    def list_groups(
        self,
        *,
        name_contains: str | None = None,
        status_equals: str | None = None,
        offline_status_equals: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by: str = "CreationTime",
        sort_order: str = "Descending",
    ) -> list[dict[str, Any]]:
        """ListFeatureGroups' summaries, filtered and sorted (every page: the wire pages them).
        Times are epoch seconds."""
        docs = self.state.list(KIND)
        if name_contains is not None:
            docs = [d for d in docs if name_contains in d["FeatureGroupName"]]
        if status_equals is not None:
            docs = [d for d in docs if d["FeatureGroupStatus"] == status_equals]
        if offline_status_equals is not None:
            docs = [d for d in docs if d.get("OfflineStoreStatus", {}).get("Status") == offline_status_equals]
        if created_after is not None:
            docs = [d for d in docs if d["CreationTime"] > created_after]
        if created_before is not None:
            docs = [d for d in docs if d["CreationTime"] < created_before]
        docs.sort(key=_SORT_KEYS[sort_by], reverse=sort_order == "Descending")
        return [
            {
                "FeatureGroupName": d["FeatureGroupName"],
                "FeatureGroupArn": d["FeatureGroupArn"],
                "CreationTime": d["CreationTime"],
                "FeatureGroupStatus": d["FeatureGroupStatus"],
                **({"OfflineStoreStatus": d["OfflineStoreStatus"]} if "OfflineStoreStatus" in d else {}),
            }
            for d in docs
        ]

    def update_group(
        self,
        name_or_arn: str,
        *,
        feature_additions: list[dict[str, Any]] | None = None,
        online_store_config: dict[str, Any] | None = None,
        throughput_config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """UpdateFeatureGroup: new features (FeatureDefinition dicts), online-store TTL, throughput;
        returns {"FeatureGroupArn"}. ResourceNotFound, or ValidationException for a feature that
        exists or is reserved."""
        doc = self._doc(name_or_arn)
        additions = feature_additions or []
        known = {f["FeatureName"].lower() for f in doc["FeatureDefinitions"]}
        for f in additions:
            if f["FeatureName"].lower() in known or f["FeatureName"].lower() in RESERVED:
                raise ValidationException(f"Feature {f['FeatureName']} already exists or is reserved")
            known.add(f["FeatureName"].lower())
        doc["FeatureDefinitions"] = doc["FeatureDefinitions"] + additions
        if online_store_config is not None:
            online = doc.setdefault("OnlineStoreConfig", {})
            online.update(online_store_config)
        if throughput_config is not None:
            doc["ThroughputConfig"] = throughput_config
        doc["LastModifiedTime"] = time.time()
        doc["LastUpdateStatus"] = {"Status": "Successful"}
        self.state.put(KIND, doc["FeatureGroupName"], doc)
        self._forget(doc["FeatureGroupName"])
        return {"FeatureGroupArn": doc["FeatureGroupArn"]}

    def delete_group(self, name_or_arn: str) -> None:
        """DeleteFeatureGroup: the group and its online records (ResourceNotFound if none). The
        offline store stays, as AWS leaves the S3 data: what it accepted is replicated first."""
        name = self._doc(name_or_arn)["FeatureGroupName"]
        self.replicator.replicate(force=True, group=name)
        with self._tx() as conn:
            conn.execute("DELETE FROM records WHERE group_name=?", (name,))
        self.state.delete(KIND, name)
        self._forget(name)

    def block_offline_store(self, name: str, reason: str) -> None:
        """OfflineStoreStatus Blocked with its reason (the offline store could not take a record)."""
        with self.state.transaction():
            doc = self.state.get(KIND, name)
            if doc is None or "OfflineStoreStatus" not in doc:
                return
            doc["OfflineStoreStatus"] = {"Status": "Blocked", "BlockedReason": reason[:1024]}
            self.state.put(KIND, name, doc)

    def meta(self, name_or_arn: str) -> GroupMeta:
        """What the data path needs of a group, cached; FeatureGroupNotFound if there is none."""
        name = group_name_of(name_or_arn)
        meta = self._meta.get(name)
        if meta is None:
            doc = self._find(name)
            if doc is None:
                raise FeatureGroupNotFound(
                    f"Resource Not Found: Amazon SageMaker can't find a feature group with name {name}"
                )
            meta = self._meta[name] = GroupMeta.from_doc(doc, self.cloud.s3.split_uri)
        return meta

    # -- the offline store, for Athena ------------------------------------------------------
    def register_offline_tables(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """On a DuckDB connection, a view per feature group with an offline store,
        `"<database>"."<table>"` as its Glue table is named; returns {"database.table": group
        name}. Athena's engine calls this before it runs a query."""
        return offline_store.register_offline_tables(
            con, self.state.list(KIND), self.cloud.s3.split_uri, self.cloud.s3.object_files
        )

    def flush_offline(self) -> int:
        """Replicate everything accepted so far, ignoring the delay (benchmarks, shutdown tools);
        returns the journal rows and batches replicated."""
        return self.replicator.replicate(force=True)

    # -- runtime: single records
    def put_record(
        self,
        name_or_arn: str,
        record: list[dict[str, Any]],
        target_stores: list[str] | None = None,
        ttl: dict[str, Any] | None = None,
    ) -> None:
        """PutRecord: `record` is its Record ([{FeatureName, ValueAsString}]), `ttl` its TtlDuration
        ({Unit, Value}). Newest event time wins online; the offline store receives the record after
        its delay. FeatureGroupNotFound for an unknown group, ValidationError for a record or a
        value the group cannot hold."""
        meta = self.meta(name_or_arn)
        values: dict[str, str] = {}
        for item in record:
            feature = item["FeatureName"]
            kind = meta.types.get(feature)
            if kind is None:
                raise ValidationError(f"The feature {feature} is not defined in the feature group {meta.name}")
            if "ValueAsString" not in item:
                raise ValidationError(f"The feature {feature} needs a ValueAsString")
            value = item["ValueAsString"]
            check_value(feature, kind, value)
            values[feature] = value
        for required in (meta.record_id, meta.event_time):
            if required not in values:
                raise ValidationError(
                    f"The record is missing the feature {required}, which the feature group {meta.name} requires"
                )
        event_time = parse_event_time(values[meta.event_time], meta.types[meta.event_time], meta.event_time)
        stores = target_stores or ["OnlineStore", "OfflineStore"]
        ttl_s = ttl_seconds(ttl) if ttl else meta.ttl
        expires = event_time + ttl_s if ttl_s is not None else None
        now = time.time()
        payload = json.dumps(values, separators=(",", ":"))
        # Online: a JSON array in definition order (no repeated keys: smaller rows, faster bulk).
        online = json.dumps([values.get(n) for n in meta.names], separators=(",", ":"))
        journaled = False
        with self._tx() as conn:
            if meta.online and "OnlineStore" in stores:
                conn.execute(online_store.UPSERT, (meta.name, values[meta.record_id], event_time, online, expires))
            if meta.offline_uri is not None and "OfflineStore" in stores:
                conn.execute(JOURNAL, (meta.name, event_time, now, now, 0, payload))
                journaled = True
        if journaled:
            self.replicator.notify()

    def get_record(
        self, name_or_arn: str, record_id: str, feature_names: list[str] | None = None, with_expiry: bool = False
    ) -> dict[str, Any]:
        """GetRecord's response ({"Record", "ExpiresAt" if asked and set}; {} when there is no live
        record). The hot path: one indexed SELECT on a cached per-thread connection.
        FeatureGroupNotFound for an unknown group, ValidationError for an unknown feature."""
        meta = self._meta.get(name_or_arn) or self.meta(name_or_arn)
        row = self._conn().execute(online_store.GET, (meta.name, record_id)).fetchone()
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return {}
        values = json.loads(row[0])
        if values is None:  # soft-deleted
            return {}
        if feature_names:
            unknown = [f for f in feature_names if f not in meta.types]
            if unknown:
                raise ValidationError(f"The feature {unknown[0]} is not defined in the feature group {meta.name}")
            wanted = set(feature_names)
            items = [
                {"FeatureName": k, "ValueAsString": v}
                for k, v in zip(meta.names, values)
                if v is not None and k in wanted
            ]
        else:
            items = [{"FeatureName": k, "ValueAsString": v} for k, v in zip(meta.names, values) if v is not None]
        out: dict[str, Any] = {"Record": items}
        if with_expiry and row[1] is not None:
            out["ExpiresAt"] = iso(row[1])
        return out

    def delete_record(
        self,
        name_or_arn: str,
        record_id: str,
        event_time: str,
        target_stores: list[str] | None = None,
        mode: str = "SoftDelete",
    ) -> None:
        """DeleteRecord as documented
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_feature_store_DeleteRecord.html):
        both modes append a deleted-record marker (is_deleted, the delete's event time, other
        features null) to the offline store; a delete older than the stored record leaves it in
        place (SoftDelete still writes the marker; HardDelete answers 400 ValidationException and
        writes none)."""
        meta = self.meta(name_or_arn)
        ts = parse_event_time(event_time, meta.types[meta.event_time], "EventTime")
        stores = target_stores or ["OnlineStore", "OfflineStore"]
        now = time.time()
        journaled = False
        with self._tx() as conn:
            if meta.online and "OnlineStore" in stores:
                stored = online_store.stored_event_time(conn, meta.name, record_id)
                if mode == "HardDelete":
                    if stored is not None and ts < stored:
                        raise ValidationException(
                            f"EventTime {event_time} is older than the EventTime of the "
                            f"stored record {record_id}: the record was not deleted"
                        )
                    online_store.hard_delete(conn, meta.name, record_id)
                else:
                    online_store.soft_delete(conn, meta.name, record_id, ts)
            if meta.offline_uri is not None and "OfflineStore" in stores:
                payload = json.dumps({meta.record_id: record_id, meta.event_time: event_time})
                conn.execute(JOURNAL, (meta.name, ts, now, now, 1, payload))
                journaled = True
        if journaled:
            self.replicator.notify()

    # -- bulk ingest
    def ingest_table(self, name_or_arn: str, table: pa.Table) -> int:
        """Validate a batch (the same value rules as PutRecord), stage its offline Parquet outside
        the offline store, then upsert the online store and journal the staged batch in one
        transaction (newest event time wins). Returns the number of records. A crash before the
        commit leaves only staged files, removed at the next start."""
        meta = self.meta(name_or_arn)
        if table.num_rows == 0:
            return 0
        table, event_ts, event_epoch = coerce_table(meta.types, meta.name, meta.record_id, meta.event_time, table)
        now = time.time()
        staging = None
        if meta.offline_uri is not None:
            # The Parquet write (GIL-free in Arrow) overlaps the SQLite upsert.
            staging = _pool().submit(self.replicator.stage, meta, offline_table(meta, table, now), event_ts, now)
        staged = None
        try:
            with self._tx() as conn:
                if meta.online:
                    self._upsert_online(conn, meta, table, event_epoch)
                if staging is not None:
                    staged = staging.result()  # a failed offline write rolls the online upsert back
                    conn.execute(BATCH, (meta.name, staged, now))
        except BaseException:
            if staging is not None:
                try:
                    self.replicator.discard(staging.result())  # never leave a write running
                except Exception:
                    pass
            raise
        if staged is not None:
            self.replicator.notify()
        return table.num_rows

    def _upsert_online(self, conn: sqlite3.Connection, meta: GroupMeta, table: pa.Table, event_epoch: pa.Array) -> None:
        # Rows (group, id, event time, JSON array of ValueAsStrings, expiry), built vectorised:
        # Arrow casts to strings, DuckDB writes the JSON; then one executemany.
        import duckdb

        strings = {f"c{i}": as_strings(table.column(n)) for i, n in enumerate(table.column_names)}
        index = {n: f"c{i}" for i, n in enumerate(table.column_names)}
        strings["__et"] = event_epoch
        values = ", ".join(index.get(n, "NULL::VARCHAR") for n in meta.names)
        expires = f"__et + {meta.ttl!r}" if meta.ttl is not None else "NULL"
        con = duckdb.connect()
        try:
            con.register("t", pa.table(strings))
            rows = con.execute(
                f"SELECT ?, {index[meta.record_id]}, __et, to_json([{values}])::VARCHAR, {expires} FROM t", [meta.name]
            ).fetchall()
        finally:
            con.close()
        conn.executemany(online_store.UPSERT, rows)

    def close(self) -> None:
        """Stop the replicator (LocalCloud.close)."""
        # Accepted records stay journaled and replicate after the next start (their delay runs
        # from acceptance), as AWS keeps replicating while nobody watches.
        self.replicator.stop()


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="featurestore-offline")
    return _POOL


def offline_table(meta: GroupMeta, table: pa.Table, now: float) -> pa.Table:
    """A cast bulk batch in the offline schema (missing features null, the three offline columns)."""
    n = table.num_rows
    now_ms = pa.scalar(int(now * 1000), pa.timestamp("ms"))
    for name, kind in meta.types.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(n, ARROW_TYPES[kind]))
    table = table.append_column("write_time", pa.repeat(now_ms, n))
    table = table.append_column("api_invocation_time", pa.repeat(now_ms, n))
    table = table.append_column("is_deleted", pa.repeat(pa.scalar(False), n))
    return table.select(meta.schema.names).cast(meta.schema)
