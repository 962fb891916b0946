"""Offline-store replication: what the online store accepted reaches the offline store's Parquet
asynchronously, after a delay, as on AWS.

AWS buffers PutRecord data and writes it to the offline store later ("within 15 minutes",
https://docs.aws.amazon.com/sagemaker/latest/dg/feature-store-offline.html), so a reader of the
offline store right after ingest sees nothing or part of it. localcloud does the same with a
configurable delay (Config.offline_store_delay, `MLGW_OFFLINE_STORE_DELAY` seconds, default a
few seconds so every local run exercises the wait; 0 = as soon as the replicator wakes).

Two journals, both committed in the SAME SQLite transaction as the online write, so the offline
store only ever receives records the online store accepted, and every accepted record reaches it
(crash or not):
- `offline_journal`: one row per PutRecord / DeleteRecord marker (JSON values).
- `offline_batches`: one row per bulk-ingest batch, whose Parquet files were staged (outside the
  offline store) before the transaction; replication renames them into place. Staged files of
  a batch that never committed are removed at start.
Replication is idempotent: journal files are named after their journal ids (a re-run after a
crash rewrites the same file), staged files are renamed once.

A record the offline store cannot hold is isolated, not retried forever: it moves to
`offline_rejected`, the group's OfflineStoreStatus becomes Blocked with the reason (as AWS
reports an offline store it cannot write), and every other record and group keeps replicating.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from localcloud.featurestore.groups import GroupMeta
from localcloud.featurestore.values import ARROW_TYPES, typed
from localcloud.state import immediate

log = logging.getLogger("localcloud")

SCHEMA = """
CREATE TABLE IF NOT EXISTS offline_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    event_time REAL NOT NULL,
    write_time REAL NOT NULL,          -- when the online store accepted it (the delay runs from here)
    api_invocation_time REAL NOT NULL,
    is_deleted INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS offline_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    staged TEXT NOT NULL,              -- folder under featurestore/staging
    accepted REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS offline_rejected (
    id INTEGER PRIMARY KEY,
    group_name TEXT NOT NULL,
    record TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""
JOURNAL = (
    "INSERT INTO offline_journal(group_name, event_time, write_time, api_invocation_time, "
    "is_deleted, record) VALUES (?,?,?,?,?,?)"
)
BATCH = "INSERT INTO offline_batches(group_name, staged, accepted) VALUES (?,?,?)"
WAKE_SECONDS = 0.5


class OfflineReplicator:
    """Moves accepted records into each group's offline store once they are `delay` seconds old.

    `conn`: the thread's connection to the online database; `meta(name)`: the group's GroupMeta
    (raises if the group is gone); `block(name, reason)`: marks the group's offline store Blocked;
    `publish(file, uri)`: moves a written Parquet file into the object store as the object uri
    names (cloud.s3.put_file): the offline store is S3 objects, never files written in place.
    """

    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection],
        meta: Callable[[str], GroupMeta],
        block: Callable[[str, str], None],
        staging: Path,
        delay: float,
        publish: Callable[[Path, str], None],
    ):
        self._conn = conn
        self._meta = meta
        self._block = block
        self._publish = publish
        self._unwritable: set[str] = set()  # groups whose last round could not write (logged once)
        self.staging = staging
        self.delay = max(0.0, float(delay))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn().executescript(SCHEMA)
        self.staging.mkdir(parents=True, exist_ok=True)
        self._remove_uncommitted_staging()

    # -- staging for bulk batches
    def stage(self, meta: GroupMeta, table: pa.Table, event_ts: pa.Array, accepted: float) -> str:
        """Write a batch's offline Parquet into a private staging folder; returns its name, which
        the caller journals (BATCH) in the transaction that commits the online upsert."""
        name = uuid.uuid4().hex
        write_partitions(
            self.staging / name, table, event_ts, dt.datetime.fromtimestamp(accepted, dt.timezone.utc), name[:12]
        )
        return name

    def discard(self, staged: str) -> None:
        shutil.rmtree(self.staging / staged, ignore_errors=True)

    def _remove_uncommitted_staging(self) -> None:
        committed = {r[0] for r in self._conn().execute("SELECT staged FROM offline_batches")}
        for folder in self.staging.iterdir():
            if folder.name not in committed:
                shutil.rmtree(folder, ignore_errors=True)

    # -- the background loop
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="featurestore-replication", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        if self.delay == 0:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._sleep_seconds())
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.replicate()
            except Exception:  # never stop replicating; the journals keep the rows
                log.exception("feature store offline replication failed")

    def _sleep_seconds(self) -> float:
        """How long the loop sleeps: until the next accepted record or batch is due, so it
        reaches the offline store `delay` seconds after its write (never sooner) rather than up
        to WAKE_SECONDS later; at most WAKE_SECONDS (or the delay, if shorter)."""
        if not self.delay:
            return WAKE_SECONDS
        longest = min(WAKE_SECONDS, self.delay)
        now = time.time()
        try:
            due = (
                self._conn()
                .execute(
                    "SELECT MIN(t) FROM (SELECT MIN(write_time) AS t FROM offline_journal WHERE write_time>? "
                    "UNION ALL SELECT MIN(accepted) FROM offline_batches WHERE accepted>?)",
                    (now - self.delay, now - self.delay),
                )
                .fetchone()[0]
            )
        except sqlite3.Error:
            return longest
        if due is None:
            return longest
        return min(longest, max(0.0, due + self.delay - now) + 0.01)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def pending(self, group: str | None = None) -> int:
        where, args = ("WHERE group_name=?", (group,)) if group else ("", ())
        conn = self._conn()
        rows = conn.execute(f"SELECT COUNT(*) FROM offline_journal {where}", args).fetchone()[0]
        return rows + conn.execute(f"SELECT COUNT(*) FROM offline_batches {where}", args).fetchone()[0]

    # -- replication
    def replicate(self, force: bool = False, group: str | None = None) -> int:
        """Replicate what is due (everything if `force`, only `group` if given); returns the
        number of journal rows and batches replicated. Each group is isolated from the others."""
        cutoff = time.time() + 1 if force else time.time() - self.delay
        done = 0
        with self._lock:
            conn = self._conn()
            groups = [
                r[0]
                for r in conn.execute(
                    "SELECT group_name FROM offline_journal WHERE write_time<=? UNION "
                    "SELECT group_name FROM offline_batches WHERE accepted<=?",
                    (cutoff, cutoff),
                )
            ]
            for name in groups:
                if group is not None and name != group:
                    continue
                try:
                    done += self._replicate_group(conn, name, cutoff)
                    self._unwritable.discard(name)
                except (OSError, sqlite3.OperationalError) as exc:
                    # The disk is full (or failing): nothing is lost, the journal keeps the rows
                    # and the next round writes them. Blocking the offline store here would fail
                    # every later run's BuildDataset for good, long after space was freed.
                    if name not in self._unwritable:
                        log.warning("offline replication of feature group %s will be retried: %s", name, exc)
                        self._unwritable.add(name)
                except Exception as exc:  # one group's failure never stops the others
                    log.exception("offline replication of feature group %s failed", name)
                    self._block(name, f"Offline store replication failed: {exc}")
        return done

    def _replicate_group(self, conn: sqlite3.Connection, name: str, cutoff: float) -> int:
        try:
            meta = self._meta(name)
        except Exception:
            meta = None
        if meta is None or meta.offline_uri is None:  # group gone: nothing to write to
            with immediate(conn):
                conn.execute("DELETE FROM offline_journal WHERE group_name=?", (name,))
                for (staged,) in conn.execute(
                    "SELECT staged FROM offline_batches WHERE group_name=?", (name,)
                ).fetchall():
                    self.discard(staged)
                conn.execute("DELETE FROM offline_batches WHERE group_name=?", (name,))
            return 0
        done = 0
        for batch_id, staged in conn.execute(
            "SELECT id, staged FROM offline_batches WHERE group_name=? AND accepted<=? ORDER BY id", (name, cutoff)
        ).fetchall():
            _publish_tree(self._publish, self.staging / staged, meta.offline_uri)
            with immediate(conn):
                conn.execute("DELETE FROM offline_batches WHERE id=?", (batch_id,))
            self.discard(staged)
            done += 1
        rows = conn.execute(
            "SELECT id, event_time, write_time, api_invocation_time, is_deleted, record "
            "FROM offline_journal WHERE group_name=? AND write_time<=? ORDER BY id",
            (name, cutoff),
        ).fetchall()
        if rows:
            good, rejected = _isolate(meta, rows)
            if good:
                self._write_journal_rows(meta, meta.offline_uri, good)
            with immediate(conn):
                for row, reason in rejected:
                    conn.execute(
                        "INSERT OR REPLACE INTO offline_rejected(id, group_name, record, reason) VALUES (?,?,?,?)",
                        (row[0], name, row[5], reason),
                    )
                # Exactly the rows written: ids are not ordered by write_time (a put takes its
                # time before it waits for the write lock), so a range would drop a later-due row.
                conn.executemany("DELETE FROM offline_journal WHERE id=?", [(r[0],) for r in rows])
            if rejected:
                row, reason = rejected[0]
                self._block(
                    name,
                    f"{len(rejected)} record(s) could not be written to the offline "
                    f"store; the first: {row[5][:200]}: {reason}",
                )
            done += len(rows)
        return done

    def _write_journal_rows(self, meta: GroupMeta, uri: str, rows: list[tuple]) -> None:
        table, event_ts = journal_table(meta, rows)
        # Deterministic name per journal range: a re-run after a crash overwrites the same object.
        tag = hashlib.sha1(f"{meta.name}:{rows[0][0]}:{rows[-1][0]}".encode()).hexdigest()[:12]
        stamp = dt.datetime.fromtimestamp(rows[0][2], dt.timezone.utc)
        # Written in a private folder (removed at start if a crash leaves it), then published.
        folder = self.staging / f"journal-{uuid.uuid4().hex}"
        try:
            write_partitions(folder, table, event_ts, stamp, tag)
            _publish_tree(self._publish, folder, uri)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def journal_table(meta: GroupMeta, rows: list[tuple]) -> tuple[pa.Table, pa.Array]:
    records = [json.loads(r[5]) for r in rows]
    columns: dict[str, pa.Array] = {}
    for name, kind in meta.types.items():
        columns[name] = pa.array([typed(kind, rec.get(name)) for rec in records], ARROW_TYPES[kind])
    columns["write_time"] = pa.array([int(r[2] * 1000) for r in rows], pa.timestamp("ms"))
    columns["api_invocation_time"] = pa.array([int(r[3] * 1000) for r in rows], pa.timestamp("ms"))
    columns["is_deleted"] = pa.array([bool(r[4]) for r in rows], pa.bool_())
    table = pa.table(columns, schema=meta.schema)
    event_ts = pa.array([int(r[1] * 1_000_000) for r in rows], pa.timestamp("us"))
    # Partition paths must be formattable (years 1-9999): this raises for anything else.
    pc.strftime(event_ts, format="%Y")
    return table, event_ts


def _isolate(meta: GroupMeta, rows: list[tuple]) -> tuple[list[tuple], list[tuple[tuple, str]]]:
    """Split journal rows into those the offline store can hold and those it cannot (reason)."""
    try:
        journal_table(meta, rows)
        return rows, []
    except Exception:
        pass
    good, rejected = [], []
    for row in rows:
        try:
            journal_table(meta, [row])
            good.append(row)
        except Exception as exc:
            rejected.append((row, f"{type(exc).__name__}: {exc}"))
    return good, rejected


def _publish_tree(publish: Callable[[Path, str], None], source: Path, uri: str) -> None:
    """Move every staged Parquet file into the object store under the prefix `uri`, at its
    path under `source` (idempotent: a file already moved is gone)."""
    if not source.exists():
        return
    for path in sorted(source.rglob("*.parquet")):
        publish(path, f"{uri}/{path.relative_to(source).as_posix()}")


def write_partitions(root: Path, table: pa.Table, event_ts: pa.Array, stamp: dt.datetime, tag: str) -> list[Path]:
    """One Parquet file per event-time hour under year=/month=/day=/hour= (SageMaker's offline
    layout), written to a temp name and renamed so readers never see half a file."""
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
