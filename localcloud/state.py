"""Durable control-plane state: JSON documents by (kind, name) in SQLite (WAL).

Every AWS resource localcloud keeps (feature groups, models, endpoints, pipelines, ...) is
a JSON document shaped like its Describe* response. SQLite gives atomic, crash-safe writes;
one connection per thread because sqlite3 connections are not shared across threads.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("localcloud.state")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class AlreadyExists(Exception):
    pass


def write_error(exc: sqlite3.Error, path: Path) -> OSError | None:
    """A database write that failed for want of disk (SQLITE_FULL) or of a working disk
    (SQLITE_IOERR) as the OSError naming the database file, as a file write would say it
    ("[Errno 28] No space left on device: '.../state.db'"); None for any other error."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    if code is not None and code & 0xFF == sqlite3.SQLITE_IOERR:
        return OSError(errno.EIO, os.strerror(errno.EIO), str(path))
    return None


def until_written(write: Callable[[], T], what: str, pause: float = 0.2, longest: float = 5.0) -> T:
    """write(), retried while it fails with an OSError (a full disk: the state directory's
    filesystem has no room), for the writes that must not be lost: how a job, a step or an
    execution ended. Without it a full disk left them InProgress / Executing for ever, even
    after space was freed; with it they end as soon as the disk has room again."""
    warned = False
    while True:
        try:
            return write()
        except OSError as exc:
            if not warned:
                log.warning("cannot record %s: %s; retrying until the disk has room", what, exc)
                warned = True
            time.sleep(pause)
            pause = min(pause * 2, longest)


def connect(path: Path) -> sqlite3.Connection:
    """A WAL-mode connection; shared by the other SQLite-backed localcloud stores."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class ThreadConnections:
    """`connections()`: this thread's connection to one database, opened on first use (a
    sqlite3 connection must not be used by two threads at once). Every SQLite-backed store
    of localcloud holds one."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def __call__(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE … COMMIT; ROLLBACK on any exception): the
    connections are in autocommit mode, so statements that belong together are grouped here."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL)
            conn.execute("ROLLBACK")
        translated = write_error(exc, _database_file(conn))
        if translated is None:
            raise
        raise translated from exc
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _database_file(conn: sqlite3.Connection) -> Path:
    try:
        return Path(conn.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return Path("(database)")


class StateStore:
    """Writes that fail for want of disk raise OSError naming the database (`write_error`)."""

    def __init__(self, path: Path):
        self.path = path
        self._conn = ThreadConnections(path)
        self._conn().executescript(_SCHEMA)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            translated = write_error(exc, self.path)
            if translated is None:
                raise
            raise translated from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nested use joins the outer transaction."""
        conn = self._conn()
        if conn.in_transaction:
            yield
            return
        with self._writing(), immediate(conn):
            yield

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT doc FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
        return json.loads(row[0]) if row else None

    def get_ignoring_case(self, kind: str, name: str, name_key: str) -> dict[str, Any] | None:
        """The document named `name`, or else the one whose `name_key` matches it ignoring case:
        AWS writes some names lower-cased inside ARNs (pipelines, model package groups)."""
        return self.get(kind, name) or next((d for d in self.list(kind) if d[name_key].lower() == name.lower()), None)

    def insert(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        try:
            with self._writing():
                self._conn().execute(
                    "INSERT INTO resources(kind, name, doc) VALUES (?,?,?)", (kind, name, json.dumps(doc))
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"{kind} {name}") from None

    def put(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        with self._writing():
            self._conn().execute(
                "INSERT INTO resources(kind, name, doc) VALUES (?,?,?) "
                "ON CONFLICT(kind, name) DO UPDATE SET doc=excluded.doc",
                (kind, name, json.dumps(doc)),
            )

    def delete(self, kind: str, name: str) -> bool:
        with self._writing():
            cur = self._conn().execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
        return cur.rowcount > 0

    def list(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        """Documents of a kind in creation order, optionally only names with a prefix."""
        rows = (
            self._conn()
            .execute(
                "SELECT doc FROM resources WHERE kind=? AND name >= ? AND name < ? ORDER BY created, rowid",
                (kind, prefix, prefix + "\uffff"),
            )
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    def next_value(self, counter: str) -> int:
        """A durable, gap-free counter (model package versions, execution numbers)."""
        with self.transaction():
            conn = self._conn()
            conn.execute(
                "INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (counter,),
            )
            return conn.execute("SELECT value FROM counters WHERE name=?", (counter,)).fetchone()[0]


_per_path: dict[tuple[Any, Path], Any] = {}
_per_path_lock = threading.Lock()


def one_per_path(factory: Any, path: Path) -> Any:
    """`factory(path)`, made once per process and path: the SQLite-backed stores of a state
    directory (event log, metric store) create their schema once and are shared by threads."""
    with _per_path_lock:
        found = _per_path.get((factory, path))
        if found is None:
            found = _per_path[(factory, path)] = factory(path)
        return found
