"""The gateway's state: API keys and usage plans, as API Gateway enforces them before any
integration runs (KeyStore). The CLI's `gateway keys` commands use it directly, so it imports
nothing of the server.

Keys live in SQLite (`<MLGW_HOME>/apigateway/keys.db`) as SHA-256 hashes only: the key itself
is shown once, at creation. Each key carries its usage plan: a token bucket (rate req/s,
burst) and a daily quota (UTC day, as API Gateway's DAY period).

Key lookups are cached for KEY_CACHE_S (so a revoke by the CLI from another process lands
within that time) and rate buckets are in memory (per process, as API Gateway's are
best-effort per region). Quota counts are not: each request a quota admits is counted in
SQLite (WAL) by one conditional upsert before it is admitted, so a used-up day stays used
up after a crash (kill -9 included) and worker processes sharing the store share the quota.

Errors (localcloud/apigateway/exceptions.py): `admit` raises InvalidApiKey (403), Throttled and
QuotaExceeded (429, with Retry-After seconds); `create` InvalidUsagePlan, `revoke` UnknownKey.
AWS sources: usage plans and API keys
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html),
throttling as a token bucket
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from localcloud.apigateway.exceptions import InvalidApiKey, InvalidUsagePlan, QuotaExceeded, Throttled, UnknownKey
from localcloud.config import make_private_dir
from localcloud.state import connect

KEY_CACHE_S = 1.0
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


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created: float
    revoked: float | None
    rate: float | None  # requests per second; None = unthrottled
    burst: int | None
    quota: int | None  # requests per UTC day; None = unlimited

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "revoked": self.revoked,
            "rate": self.rate,
            "burst": self.burst,
            "quota": self.quota,
        }


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def default_path(home: Path) -> Path:
    """Where a state directory's key store lives."""
    return home / "apigateway" / "keys.db"


def _day(now: float) -> int:
    return int(now // _DAY_S)


class _Bucket:
    """One key's token bucket: tokens left, as of `stamp` (time.monotonic())."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens, self.stamp = burst, now


class KeyStore:
    """API keys, their usage plans and the day's usage, in the SQLite file at `path` (created
    owner-only); rate buckets and the key cache in memory. Thread-safe; close() when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.parent.parent.exists():  # the state directory, if we create it
            make_private_dir(path.parent.parent)
        make_private_dir(path.parent)
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists():
                os.chmod(file, 0o600)  # key hashes and usage: owner only
        self._db_lock = threading.Lock()  # one connection, shared by the server's threads
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._buckets: dict[str, _Bucket] = {}

    # -- management (CLI) ----------------------------------------------------------------------

    def create(
        self, name: str, rate: float | None = None, burst: int | None = None, quota: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its secret value (returned once, never stored). InvalidUsagePlan for a
        name that is not 1 to 128 characters, a rate that is not a finite number > 0, a burst or a
        quota < 1. A rate without a burst gets burst ceil(rate)."""
        if not name or len(name) > 128:
            raise InvalidUsagePlan("name: 1 to 128 characters required")
        if rate is not None and not (0 < rate < float("inf")):  # also refuses nan and inf
            raise InvalidUsagePlan(f"rate: must be a finite number > 0 requests/s, got {rate}")
        if burst is not None and burst < 1:
            raise InvalidUsagePlan(f"burst: must be >= 1, got {burst}")
        if quota is not None and quota < 1:
            raise InvalidUsagePlan(f"quota: must be >= 1 request/day, got {quota}")
        if rate is not None and burst is None:
            burst = max(1, math.ceil(rate))
        secret = secrets.token_urlsafe(30)  # 40 chars, as API Gateway's keys
        key = ApiKey(secrets.token_hex(5), name, time.time(), None, rate, burst, quota)
        with self._db_lock:
            self._conn.execute(
                "INSERT INTO api_keys(id, name, key_hash, created, rate, burst, quota) VALUES (?,?,?,?,?,?,?)",
                (key.id, name, hash_key(secret), key.created, rate, burst, quota),
            )
        return key, secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._db_lock:
            rows = self._conn.execute(
                "SELECT id, name, created, revoked, rate, burst, quota FROM api_keys ORDER BY created"
            ).fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> None:
        """Revoke an active key (the server sees it within KEY_CACHE_S); UnknownKey if none."""
        with self._db_lock:
            cur = self._conn.execute(
                "UPDATE api_keys SET revoked=? WHERE id=? AND revoked IS NULL", (time.time(), key_id)
            )
        if cur.rowcount == 0:
            raise UnknownKey(f"no active API key with id {key_id!r}")
        with self._lock:
            self._cache.clear()

    def usage(self, key_id: str, now: float | None = None) -> int:
        """Requests counted against key_id's quota on the UTC day of `now`."""
        day = _day(time.time() if now is None else now)
        with self._db_lock:
            row = self._conn.execute("SELECT used FROM usage WHERE key_id=? AND day=?", (key_id, day)).fetchone()
        return row[0] if row else 0

    # -- request path --------------------------------------------------------------------------

    def _lookup(self, key_hash: str, now: float) -> ApiKey | None:
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < KEY_CACHE_S:
            return cached[1]
        with self._db_lock:
            row = self._conn.execute(
                "SELECT id, name, created, revoked, rate, burst, quota FROM api_keys WHERE key_hash=?", (key_hash,)
            ).fetchone()
        key = ApiKey(*row) if row else None
        if key is not None and key.revoked is not None:
            key = None
        if len(self._cache) > 10_000:  # random keys must not grow memory without bound
            self._cache.clear()
        self._cache[key_hash] = (now, key)
        return key

    def _count(self, key: ApiKey, day: int) -> bool:
        """Count one request against the key's quota for the day; False when it is used up.
        One statement: the check and the increment are atomic across threads and processes."""
        with self._db_lock:
            cur = self._conn.execute(
                "INSERT INTO usage(key_id, day, used) VALUES (?, ?, 1) "
                "ON CONFLICT(key_id, day) DO UPDATE SET used = used + 1 WHERE used < ?",
                (key.id, day, key.quota),
            )
        return cur.rowcount == 1

    def admit(self, presented: str | None) -> str:
        """The id of the key `presented` (the x-api-key header), its request taken from its rate
        bucket and counted against its quota. InvalidApiKey for a missing, unknown or revoked key;
        Throttled over the rate, QuotaExceeded over the day's quota (both with the key's id and
        the seconds to wait)."""
        if not presented:
            raise InvalidApiKey("Forbidden")
        now_mono, now = time.monotonic(), time.time()
        key = self._lookup(hash_key(presented), now_mono)
        if key is None:
            raise InvalidApiKey("Forbidden")
        bucket = None
        if key.rate is not None:
            with self._lock:
                bucket = self._buckets.get(key.id)
                if bucket is None:
                    bucket = self._buckets[key.id] = _Bucket(float(key.burst or 1), now_mono)
                bucket.tokens = min(float(key.burst or 1), bucket.tokens + (now_mono - bucket.stamp) * key.rate)
                bucket.stamp = now_mono
                if bucket.tokens < 1.0:
                    wait = math.ceil((1.0 - bucket.tokens) / key.rate)
                    raise Throttled("Too Many Requests", key.id, max(1, wait))
                bucket.tokens -= 1.0  # taken now: concurrent requests see it gone
        if key.quota is not None:
            day = _day(now)
            if not self._count(key, day):
                if bucket is not None:
                    with self._lock:
                        bucket.tokens += 1.0
                raise QuotaExceeded("Limit Exceeded", key.id, max(1, math.ceil((day + 1) * _DAY_S - now)))
        return key.id

    def close(self) -> None:
        """Close the database connection (the store is unusable afterwards)."""
        with self._db_lock:
            self._conn.close()
