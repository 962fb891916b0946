"""EventBridge state: rule documents in the shared StateStore; events and deliveries in their own
append-only SQLite log (`<home>/events/events.db`), which can grow without bloating state.db."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localcloud.state import ThreadConnections, one_per_path

RULE = "events:rule"   # StateStore kind; name "<bus>/<rule>", doc = DescribeRule + "_Targets"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    detail TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    resources TEXT NOT NULL,
    bus TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS matches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_arn TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX IF NOT EXISTS matches_event ON matches(event_id);
"""


class EventLog:
    """One per state directory; a connection per thread, as StateStore does."""

    def __init__(self, path: Path):
        self.path = path
        self._conn = ThreadConnections(path)
        self._conn().executescript(_SCHEMA)

    def add_event(self, event: dict[str, Any], bus: str) -> None:
        self._conn().execute(
            "INSERT INTO events(id, time, source, detail_type, detail, account, region, "
            "resources, bus) VALUES (?,?,?,?,?,?,?,?,?)",
            (event["id"], event["time"], event["source"], event["detail-type"],
             json.dumps(event["detail"]), event["account"], event["region"],
             json.dumps(event["resources"]), bus))

    def add_match(self, event_id: str, rule: str, target_id: str, target_arn: str,
                  outcome: str) -> None:
        self._conn().execute(
            "INSERT INTO matches(event_id, rule, target_id, target_arn, outcome) VALUES (?,?,?,?,?)",
            (event_id, rule, target_id, target_arn, outcome))

    def events(self, limit: int) -> list[dict[str, Any]]:
        """Newest first, each with the deliveries its rules made."""
        rows = self._conn().execute(
            "SELECT id, time, source, detail_type, detail, account, region, resources, bus "
            "FROM events ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        out = []
        for id_, time, source, detail_type, detail, account, region, resources, bus in rows:
            out.append({"id": id_, "time": time, "source": source, "detail-type": detail_type,
                        "detail": json.loads(detail), "account": account, "region": region,
                        "resources": json.loads(resources), "bus": bus,
                        "matches": self.matches_for(id_)})
        return out

    def matches_for(self, event_id: str) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT event_id, rule, target_id, target_arn, outcome, at FROM matches "
            "WHERE event_id=? ORDER BY seq", (event_id,)).fetchall()
        return [_match(r) for r in rows]

    def matches(self, limit: int) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT event_id, rule, target_id, target_arn, outcome, at FROM matches "
            "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [_match(r) for r in rows]


def _match(row: tuple) -> dict[str, Any]:
    event_id, rule, target_id, target_arn, outcome, at = row
    return {"event_id": event_id, "rule": rule, "target_id": target_id,
            "target_arn": target_arn, "outcome": outcome, "at": at}


def event_log(cloud: Any) -> EventLog:
    """The log for this cloud's home (cached: the schema is created once per process)."""
    return one_per_path(EventLog, cloud.config.home / "events" / "events.db")
