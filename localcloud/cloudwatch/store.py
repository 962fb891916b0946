"""CloudWatch's durable data: datapoints and alarm history in `<home>/cloudwatch/metrics.db`
(SQLite, WAL), apart from state.db because metrics grow without bound. Alarm configurations
and states are documents in the shared StateStore (kind ALARM).

A metric is identified, as CloudWatch identifies it, by namespace, name and the exact set of
its dimensions; `dims` holds that set canonically (JSON of [name, value] pairs sorted by
name). Each stored row is a statistic set (SampleCount, Sum, Minimum, Maximum), which is
what a single value, a Values/Counts array and StatisticValues all reduce to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.state import ThreadConnections, immediate, one_per_path

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

ALARM = "cloudwatch:alarm"  # StateStore kind; name = AlarmName, doc = MetricAlarm + "_" fields

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datapoints (
    namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL, ts REAL NOT NULL,
    sample_count REAL NOT NULL, sum REAL NOT NULL, minimum REAL NOT NULL, maximum REAL NOT NULL,
    unit TEXT
);
CREATE INDEX IF NOT EXISTS datapoints_metric ON datapoints(namespace, name, dims, ts);
CREATE TABLE IF NOT EXISTS alarm_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm TEXT NOT NULL, ts REAL NOT NULL,
    type TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_alarm ON alarm_history(alarm, ts);
"""


def dims_key(dimensions: list[dict[str, str]] | None) -> str:
    return json.dumps(sorted([d["Name"], d["Value"]] for d in dimensions or []))


def dims_list(key: str) -> list[dict[str, str]]:
    return [{"Name": n, "Value": v} for n, v in json.loads(key)]


class MetricStore:
    def __init__(self, path: Path):
        self.path = path
        self._conn = ThreadConnections(path)
        self._conn().executescript(_SCHEMA)

    def put(self, rows: list[tuple[str, str, str, float, float, float, float, float, str | None]]) -> None:
        """Rows of (namespace, name, dims_key, ts, sample_count, sum, min, max, unit), atomically."""
        with immediate(self._conn()) as conn:
            conn.executemany("INSERT INTO datapoints VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def aggregate(
        self, namespace: str, name: str, dims: str, start: float, end: float, period: int, unit: str | None = None
    ) -> dict[float, dict[str, float]]:
        """{period start: {SampleCount, Sum, Minimum, Maximum}} for periods aligned to
        multiples of `period` seconds, over datapoints with start <= ts < end (of `unit` only
        when given; a datapoint sent without a Unit has the unit "None", as on AWS)."""
        return {
            stamp: stats
            for (stamp, _), stats in self.aggregate_by_unit(namespace, name, dims, start, end, period, unit, merge=True)
        }

    def aggregate_by_unit(
        self,
        namespace: str,
        name: str,
        dims: str,
        start: float,
        end: float,
        period: int,
        unit: str | None = None,
        merge: bool = False,
    ) -> list[tuple[tuple[float, str], dict[str, float]]]:
        """[((period start, unit), statistics)] ordered by time then unit: one statistic set per
        period and Unit, as GetMetricStatistics answers (AWS keeps units apart); `merge` folds
        the units of a period into one (unit then "*")."""
        unit_sql = "'*'" if merge else "COALESCE(unit, 'None')"
        sql = (
            f"SELECT CAST(ts / ? AS INTEGER) * ?, {unit_sql}, SUM(sample_count), SUM(sum), MIN(minimum), "
            "MAX(maximum) FROM datapoints WHERE namespace=? AND name=? AND dims=? "
            "AND ts >= ? AND ts < ?"
        )
        args: list[Any] = [period, period, namespace, name, dims, start, end]
        if unit:
            sql += " AND COALESCE(unit, 'None')=?"
            args.append(unit)
        rows = self._conn().execute(sql + " GROUP BY 1, 2 ORDER BY 1, 2", args).fetchall()
        return [
            ((float(r[0]), r[1]), {"SampleCount": r[2], "Sum": r[3], "Minimum": r[4], "Maximum": r[5]}) for r in rows
        ]

    def metrics(
        self, namespace: str | None, name: str | None, since: float | None = None
    ) -> list[tuple[str, str, str]]:
        sql = "SELECT DISTINCT namespace, name, dims FROM datapoints WHERE 1=1"
        args: list[str | float] = []
        if namespace:
            sql += " AND namespace=?"
            args.append(namespace)
        if name:
            sql += " AND name=?"
            args.append(name)
        if since is not None:
            sql += " AND ts >= ?"
            args.append(since)
        return [tuple(r) for r in self._conn().execute(sql + " ORDER BY 1, 2, 3", args)]

    def add_history(self, alarm: str, ts: float, kind: str, summary: str, data: dict[str, Any]) -> None:
        self._conn().execute(
            "INSERT INTO alarm_history(alarm, ts, type, summary, data) VALUES (?,?,?,?,?)",
            (alarm, ts, kind, summary, json.dumps(data)),
        )

    def history(
        self, alarm: str | None, kind: str | None, start: float | None, end: float | None, newest_first: bool = True
    ) -> list[dict[str, Any]]:
        sql, args = "SELECT alarm, ts, type, summary, data FROM alarm_history WHERE 1=1", []
        for column, op, value in (("alarm", "=", alarm), ("type", "=", kind), ("ts", ">=", start), ("ts", "<", end)):
            if value is not None:
                sql += f" AND {column} {op} ?"
                args.append(value)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'}"
        return [
            {"alarm": r[0], "ts": r[1], "type": r[2], "summary": r[3], "data": r[4]}
            for r in self._conn().execute(sql, args)
        ]


def metric_store(cloud: LocalCloud) -> MetricStore:
    """The store for this cloud's home (one per process and home)."""
    return one_per_path(MetricStore, cloud.config.home / "cloudwatch" / "metrics.db")
