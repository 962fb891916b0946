"""API keys and usage plans, as API Gateway enforces them before any integration runs.

Keys live in SQLite (`<MLGW_HOME>/apigateway/keys.db`) as SHA-256 hashes only: the key itself
is shown once, at creation. Each key carries its usage plan: a token bucket (rate req/s,
burst) and a daily quota (UTC day, as API Gateway's DAY period).

The request path touches memory only: key lookups are cached for KEY_CACHE_S (so a revoke by
the CLI from another process lands within that time), buckets are in memory (per process,
as API Gateway's are best-effort per region), and quota counts are written back to SQLite at
most once per FLUSH_S so a restart does not reset the day's usage.
"""
from __future__ import annotations

import hashlib
import math
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from localcloud.config import make_private_dir
from localcloud.state import connect

KEY_CACHE_S = 1.0
FLUSH_S = 1.0
_DAY_S = 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL,
    rate REAL,
    burst INTEGER,
    quota INTEGER
);
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (key_id, day)
);
"""


class UnknownKey(LookupError):
    """No active key with that id."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created: float
    revoked: float | None
    rate: float | None       # requests per second; None = unthrottled
    burst: int | None
    quota: int | None        # requests per UTC day; None = unlimited

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "created": self.created,
                "revoked": self.revoked, "rate": self.rate, "burst": self.burst,
                "quota": self.quota}


@dataclass(frozen=True)
class Decision:
    """The outcome of admitting one request: status 200 means go on."""
    status: int
    message: str = ""
    key_id: str | None = None
    retry_after: int | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def default_path(home: Path) -> Path:
    return home / "apigateway" / "keys.db"


def _day(now: float) -> int:
    return int(now // _DAY_S)


class _Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, burst: float, now: float):
        self.tokens, self.stamp = burst, now


class KeyStore:
    def __init__(self, path: Path):
        self.path = path
        if not path.parent.parent.exists():         # the state directory, if we create it
            make_private_dir(path.parent.parent)
        make_private_dir(path.parent)
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists():
                os.chmod(file, 0o600)               # key hashes and usage: owner only
        self._db_lock = threading.Lock()     # one connection, shared by the server's threads
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._used: dict[tuple[str, int], int] = {}       # (key id, day) -> count
        self._dirty: set[tuple[str, int]] = set()
        self._flushed = time.monotonic()

    # -- management (CLI) ----------------------------------------------------------------------

    def create(self, name: str, rate: float | None = None, burst: int | None = None,
               quota: int | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret value (returned once, never stored)."""
        if not name or len(name) > 128:
            raise ValueError("name: 1 to 128 characters required")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate: must be > 0 requests/s, got {rate}")
        if burst is not None and burst < 1:
            raise ValueError(f"burst: must be >= 1, got {burst}")
        if quota is not None and quota < 1:
            raise ValueError(f"quota: must be >= 1 request/day, got {quota}")
        if rate is not None and burst is None:
            burst = max(1, math.ceil(rate))
        secret = secrets.token_urlsafe(30)                  # 40 chars, as API Gateway's keys
        key = ApiKey(secrets.token_hex(5), name, time.time(), None, rate, burst, quota)
        with self._db_lock:
            self._conn.execute(
                "INSERT INTO api_keys(id, name, key_hash, created, rate, burst, quota) "
                "VALUES (?,?,?,?,?,?,?)",
                (key.id, name, hash_key(secret), key.created, rate, burst, quota))
        return key, secret

    def list(self) -> list[ApiKey]:
        with self._db_lock:
            rows = self._conn.execute(
                "SELECT id, name, created, revoked, rate, burst, quota FROM api_keys "
                "ORDER BY created").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> None:
        with self._db_lock:
            cur = self._conn.execute("UPDATE api_keys SET revoked=? WHERE id=? AND revoked IS NULL",
                                     (time.time(), key_id))
        if cur.rowcount == 0:
            raise UnknownKey(f"no active API key with id {key_id!r}")
        with self._lock:
            self._cache.clear()

    def usage(self, key_id: str, now: float | None = None) -> int:
        day = _day(time.time() if now is None else now)
        with self._lock:
            if (key_id, day) in self._used:
                return self._used[(key_id, day)]
        return self._stored_usage(key_id, day)

    # -- request path --------------------------------------------------------------------------

    def _lookup(self, key_hash: str, now: float) -> ApiKey | None:
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < KEY_CACHE_S:
            return cached[1]
        with self._db_lock:
            row = self._conn.execute(
                "SELECT id, name, created, revoked, rate, burst, quota FROM api_keys "
                "WHERE key_hash=?", (key_hash,)).fetchone()
        key = ApiKey(*row) if row else None
        if key is not None and key.revoked is not None:
            key = None
        if len(self._cache) > 10_000:       # random keys must not grow memory without bound
            self._cache.clear()
        self._cache[key_hash] = (now, key)
        return key

    def _stored_usage(self, key_id: str, day: int) -> int:
        with self._db_lock:
            row = self._conn.execute("SELECT used FROM usage WHERE key_id=? AND day=?",
                                     (key_id, day)).fetchone()
        return row[0] if row else 0

    def admit(self, presented: str | None) -> Decision:
        """403 for a missing/unknown/revoked key, 429 over rate or quota, else 200."""
        if not presented:
            return Decision(403, "Forbidden")
        now_mono, now = time.monotonic(), time.time()
        key = self._lookup(hash_key(presented), now_mono)
        if key is None:
            return Decision(403, "Forbidden")
        day = _day(now)
        if key.quota is not None and (key.id, day) not in self._used:
            stored = self._stored_usage(key.id, day)
        else:
            stored = 0
        with self._lock:
            if key.rate is not None:
                bucket = self._buckets.get(key.id)
                if bucket is None:
                    bucket = self._buckets[key.id] = _Bucket(float(key.burst or 1), now_mono)
                bucket.tokens = min(float(key.burst or 1),
                                    bucket.tokens + (now_mono - bucket.stamp) * key.rate)
                bucket.stamp = now_mono
                if bucket.tokens < 1.0:
                    wait = math.ceil((1.0 - bucket.tokens) / key.rate)
                    return Decision(429, "Too Many Requests", key.id, max(1, wait))
            if key.quota is not None:
                used = self._used.setdefault((key.id, day), stored)
                if used >= key.quota:
                    return Decision(429, "Limit Exceeded", key.id,
                                    max(1, math.ceil((day + 1) * _DAY_S - now)))
                self._used[(key.id, day)] = used + 1
                self._dirty.add((key.id, day))
            if key.rate is not None:
                bucket.tokens -= 1.0
            flush = bool(self._dirty) and now_mono - self._flushed >= FLUSH_S
        if flush:
            self.flush()
        return Decision(200, key_id=key.id)

    def flush(self) -> None:
        """Write the day's usage counts back (quota survives a restart)."""
        with self._lock:
            pending = [(k, d, self._used[(k, d)]) for k, d in self._dirty]
            self._dirty.clear()
            self._flushed = time.monotonic()
            # Yesterday's counters are finished: keep memory bounded.
            today = _day(time.time())
            for stale in [kd for kd in self._used if kd[1] < today]:
                del self._used[stale]
        if not pending:
            return
        try:
            with self._db_lock:
                self._conn.executemany(
                    "INSERT INTO usage(key_id, day, used) VALUES (?,?,?) "
                    "ON CONFLICT(key_id, day) DO UPDATE SET used=max(used, excluded.used)", pending)
        except sqlite3.Error:
            with self._lock:   # try again next time rather than lose the counts
                self._dirty.update((k, d) for k, d, _ in pending)

    def close(self) -> None:
        self.flush()
        with self._db_lock:
            self._conn.close()
