"""The online store: one SQLite table (WAL) in `home/featurestore/online.db`, keyed by
(group, record id), holding the record with the newest event time, as on AWS.

A SoftDelete leaves a tombstone: the row keeps its record id and the delete's event time with
`record = 'null'`, so GetRecord finds nothing and a later PutRecord with an older event time
cannot bring the record back (DeleteRecord,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_feature_store_DeleteRecord.html:
for SoftDelete "feature columns are set to null and the record is no longer retrievable").
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    group_name TEXT NOT NULL,
    record_id TEXT NOT NULL,
    event_time REAL NOT NULL,
    record TEXT NOT NULL,          -- JSON [ValueAsString | null] in definition order; 'null' = soft-deleted
    expires_at REAL,               -- epoch seconds, NULL = never
    PRIMARY KEY (group_name, record_id)
) WITHOUT ROWID;
"""
TOMBSTONE = "null"

# Newest event time wins; an equal event time overwrites (a re-put of the same event).
UPSERT = (
    "INSERT INTO records(group_name, record_id, event_time, record, expires_at) VALUES (?,?,?,?,?) "
    "ON CONFLICT(group_name, record_id) DO UPDATE SET event_time=excluded.event_time, "
    "record=excluded.record, expires_at=excluded.expires_at "
    "WHERE excluded.event_time >= records.event_time"
)
GET = "SELECT record, expires_at FROM records WHERE group_name=? AND record_id=?"


def stored_event_time(conn: sqlite3.Connection, group: str, record_id: str) -> float | None:
    """The event time of the stored record (live or tombstone), None if there is none."""
    row = conn.execute(
        "SELECT event_time, record FROM records WHERE group_name=? AND record_id=?", (group, record_id)
    ).fetchone()
    return None if row is None else row[0]


def soft_delete(conn: sqlite3.Connection, group: str, record_id: str, event_time: float) -> None:
    """Tombstone the record if the delete is not older than it (newest event time wins)."""
    conn.execute(UPSERT, (group, record_id, event_time, TOMBSTONE, None))


def hard_delete(conn: sqlite3.Connection, group: str, record_id: str) -> None:
    conn.execute("DELETE FROM records WHERE group_name=? AND record_id=?", (group, record_id))


def size_bytes(conn: sqlite3.Connection, group: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(length(record) + length(record_id) + 16), 0) FROM records "
        "WHERE group_name=? AND record != 'null'",
        (group,),
    ).fetchone()
    return int(row[0])
