"""SageMaker Feature Store state: the backend the control plane (control.py) and the runtime
(runtime.py) call. It composes the concerns, one module each:

- groups.py: feature-group documents (Create/Describe/List/Update/Delete) and GroupMeta;
- values.py: value checks at the edge (event-time formats, Integral / Fractional notation);
- online.py: the online store (SQLite, newest event time wins, tombstones);
- replication.py: asynchronous, delayed replication of accepted records to the offline store.

Every write commits its online change and its offline journal entry in one SQLite transaction
(online.db, WAL), so the offline store receives exactly what the online store accepted.
"""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pyarrow as pa

from localcloud.errors import AwsError
from localcloud.featurestore import online as online_store
from localcloud.featurestore.groups import (KIND, FeatureGroups, GroupMeta, group_name_of,
                                            runtime_not_found)
from localcloud.featurestore.replication import BATCH, JOURNAL, OfflineReplicator
from localcloud.featurestore.values import (ARROW_TYPES, as_strings, check_value, coerce_table, iso,
                                            parse_event_time, runtime_validation, ttl_seconds)
from localcloud.state import ThreadConnections, immediate

__all__ = ["KIND", "FeatureStoreBackend", "GroupMeta"]


class FeatureStoreBackend:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.config = cloud.config
        self.state = cloud.state
        self.groups = FeatureGroups(self.config, self.state)
        self.db_path = self.config.home / "featurestore" / "online.db"
        self._conn = ThreadConnections(self.db_path)
        self._meta: dict[str, GroupMeta] = {}
        self._conn().executescript(online_store.SCHEMA)
        self.replicator = OfflineReplicator(
            self._conn, self.meta, self.groups.block_offline_store,
            self.config.home / "featurestore" / "staging", self.config.offline_store_delay)
        # Whatever a previous process accepted but never replicated follows its delay from here.
        self.replicator.start()

    def _tx(self):
        """A write transaction on this thread's connection (state.immediate)."""
        return immediate(self._conn())

    # -- control plane
    def create_group(self, params: dict[str, Any]) -> dict[str, Any]:
        out = self.groups.create(params)
        self._meta.pop(params["FeatureGroupName"], None)
        return out

    def describe_group(self, name_or_arn: str) -> dict[str, Any]:
        out = self.groups.describe(name_or_arn)
        out["OnlineStoreTotalSizeBytes"] = online_store.size_bytes(self._conn(), out["FeatureGroupName"])
        out["NextToken"] = ""
        return out

    def list_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.groups.list(params)

    def update_group(self, params: dict[str, Any]) -> dict[str, Any]:
        out = self.groups.update(params)
        self._meta.pop(params["FeatureGroupName"], None)
        return out

    def delete_group(self, name_or_arn: str) -> None:
        name = self.groups.doc(name_or_arn)["FeatureGroupName"]
        # The offline store stays (AWS leaves S3 data): replicate what it accepted first.
        self.replicator.replicate(force=True, group=name)
        with self._tx() as conn:
            conn.execute("DELETE FROM records WHERE group_name=?", (name,))
        self.state.delete(KIND, name)
        self._meta.pop(name, None)

    def meta(self, name_or_arn: str) -> GroupMeta:
        name = group_name_of(name_or_arn)
        meta = self._meta.get(name)
        if meta is None:
            doc = self.state.get(KIND, name)
            if doc is None:
                raise runtime_not_found(name)
            meta = self._meta[name] = GroupMeta.from_doc(doc, self.config.s3_root)
        return meta

    def flush_offline(self) -> int:
        """Replicate everything accepted so far, ignoring the delay (benchmarks, shutdown tools);
        returns the journal rows and batches replicated."""
        return self.replicator.replicate(force=True)

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
            check_value(feature, kind, value)
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
        journaled = False
        with self._tx() as conn:
            if meta.online and "OnlineStore" in stores:
                conn.execute(online_store.UPSERT,
                             (meta.name, values[meta.record_id], event_time, online, expires))
            if meta.offline_dir is not None and "OfflineStore" in stores:
                conn.execute(JOURNAL, (meta.name, event_time, now, now, 0, payload))
                journaled = True
        if journaled:
            self.replicator.notify()

    def get_record(self, name_or_arn: str, record_id: str, feature_names: list[str] | None = None,
                   with_expiry: bool = False) -> dict[str, Any]:
        """The hot path: one indexed SELECT on a cached per-thread connection."""
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
                        raise ValidationException(f"EventTime {event_time} is older than the EventTime of the "
                                       f"stored record {record_id}: the record was not deleted")
                    online_store.hard_delete(conn, meta.name, record_id)
                else:
                    online_store.soft_delete(conn, meta.name, record_id, ts)
            if meta.offline_dir is not None and "OfflineStore" in stores:
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
        table, event_ts, event_epoch = coerce_table(meta.types, meta.name, meta.record_id,
                                                    meta.event_time, table)
        now = time.time()
        staging = None
        if meta.offline_dir is not None:
            # The Parquet write (GIL-free in Arrow) overlaps the SQLite upsert.
            staging = _pool().submit(self.replicator.stage, meta, offline_table(meta, table, now),
                                     event_ts, now)
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

    def _upsert_online(self, conn: sqlite3.Connection, meta: GroupMeta, table: pa.Table,
                       event_epoch: pa.Array) -> None:
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
            rows = con.execute(f"SELECT ?, {index[meta.record_id]}, __et, to_json([{values}])::VARCHAR, "
                               f"{expires} FROM t", [meta.name]).fetchall()
        finally:
            con.close()
        conn.executemany(online_store.UPSERT, rows)

    def close(self) -> None:
        # Accepted records stay journaled and replicate after the next start (their delay runs
        # from acceptance), as AWS keeps replicating while nobody watches.
        self.replicator.stop()


_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
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
