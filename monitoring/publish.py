"""What a monitoring run tells the rest of the system: a drift event and drift metrics.

On AWS, Model Monitor publishes CloudWatch metrics (`feature_baseline_drift_<feature>` in the
`aws/sagemaker/Endpoints/data-metrics` namespace) and the project's EventBridge rule
(mlgw/retrain_rule.json) reacts to a "Model Drift Detected" event. Locally the event goes
to localcloud's EventBridge through boto3 (same code path), and the metrics are written as a
Prometheus text file under the state dir (nothing local scrapes CloudWatch).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from monitoring import drift

SOURCE = "ml-gateway.monitoring"
DETAIL_TYPE = "Model Drift Detected"
METRIC_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
METRICS_FILE = "monitoring.prom"
# EventBridge rejects entries over 256 KB; stay well under it with room for the envelope.
MAX_DETAIL_BYTES = 200_000
MAX_DESCRIPTION = 300


class PublishError(Exception):
    """PutEvents accepted the call but rejected the entry; the message carries AWS's reason."""


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _violation_summary(v: dict[str, str]) -> dict[str, str]:
    description = v.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        description = description[:MAX_DESCRIPTION - 1] + "…"
    return {"feature_name": v.get("feature_name", ""),
            "constraint_check_type": v.get("constraint_check_type", ""),
            "description": description}


def _fit(detail: dict[str, Any], violations: list[dict[str, str]]) -> str:
    """Detail JSON under MAX_DETAIL_BYTES: drop violations from the tail (the count and the
    violations file keep the full picture) rather than fail the publish."""
    keep = len(violations)
    while True:
        detail["violations"] = violations[:keep]
        detail["violations_truncated"] = keep < len(violations)
        text = json.dumps(detail, separators=(",", ":"))
        if len(text.encode("utf-8")) <= MAX_DETAIL_BYTES or keep == 0:
            return text
        keep //= 2


def drift_event(result: Any, endpoint_name: str,
                window: tuple[dt.datetime | None, dt.datetime | None],
                report_uri: str, violations_uri: str | None = None,
                statistics_uri: str | None = None) -> dict[str, Any]:
    """A PutEvents entry matching mlgw/retrain_rule.json for this run's violations.

    `report_uri` is the output folder (or report.html) location; the violations/statistics
    locations default to siblings of it."""
    base = report_uri.rsplit("/", 1)[0] if report_uri.endswith(".html") else report_uri.rstrip("/")
    detail: dict[str, Any] = {
        "endpoint": endpoint_name,
        "violation_count": len(result.violations),
        "window": {"start": _iso(window[0]), "end": _iso(window[1])},
        "report": report_uri if report_uri.endswith(".html") else f"{base}/report.html",
        "violations_location": violations_uri or f"{base}/constraint_violations.json",
        "statistics_location": statistics_uri or f"{base}/statistics.json",
        "records_analysed": result.report.records,
        "features_drifted": sorted({v["feature_name"] for v in result.violations
                                    if v.get("constraint_check_type") == "baseline_drift_check"}),
    }
    summaries = [_violation_summary(v) for v in result.violations]
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": _fit(detail, summaries),
            "Resources": []}


def publish(events_client: Any, entry: dict[str, Any]) -> str:
    """PutEvents one entry; its EventId. PutEvents reports per-entry failures in a 200 reply,
    so they are checked here instead of passing silently."""
    reply = events_client.put_events(Entries=[entry])
    if reply.get("FailedEntryCount", 0):
        failed = (reply.get("Entries") or [{}])[0]
        raise PublishError(f"EventBridge rejected the drift event ({entry['DetailType']} from "
                           f"{entry['Source']}): {failed.get('ErrorCode', '?')}: "
                           f"{failed.get('ErrorMessage', 'no message')}")
    return reply["Entries"][0]["EventId"]


# --- metrics ----------------------------------------------------------------------------------

def feature_distances(result: Any) -> dict[str, float]:
    """Baseline drift distance per feature (the value behind feature_baseline_drift_<f>)."""
    current = {f["name"]: f for f in result.statistics.get("features", [])}
    out: dict[str, float] = {}
    for base in (result.baseline or {}).get("features", []):
        cur = current.get(base["name"])
        if cur is None:
            continue
        distance = None
        if "numerical_statistics" in base and "numerical_statistics" in cur:
            distance = drift.numeric_distance(base["numerical_statistics"],
                                              cur["numerical_statistics"])
        elif "string_statistics" in base and "string_statistics" in cur:
            distance = drift.categorical_distance(base["string_statistics"],
                                                  cur["string_statistics"])
        if distance is not None:
            out[base["name"]] = distance
    return out


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(result: Any, endpoint_name: str, when: dt.datetime | None = None) -> str:
    """Exposition-format text for one endpoint's latest run."""
    ep = _label(endpoint_name)
    lines = ["# HELP monitoring_feature_baseline_drift L-infinity distance between the "
             "baseline and current feature distributions (Model Monitor's "
             "feature_baseline_drift_<feature>).",
             "# TYPE monitoring_feature_baseline_drift gauge"]
    for feature, distance in sorted(feature_distances(result).items()):
        lines.append(f'monitoring_feature_baseline_drift{{endpoint="{ep}",'
                     f'feature="{_label(feature)}"}} {distance:.6g}')
    counts: dict[str, int] = {}
    for v in result.violations:
        counts[v["constraint_check_type"]] = counts.get(v["constraint_check_type"], 0) + 1
    lines += ["# HELP monitoring_violations Constraint violations in the latest run, by check.",
              "# TYPE monitoring_violations gauge",
              f'monitoring_violations{{endpoint="{ep}",check="all"}} {len(result.violations)}']
    lines += [f'monitoring_violations{{endpoint="{ep}",check="{_label(c)}"}} {n}'
              for c, n in sorted(counts.items())]
    lines += ["# HELP monitoring_records_analysed Captured records in the latest run.",
              "# TYPE monitoring_records_analysed gauge",
              f'monitoring_records_analysed{{endpoint="{ep}"}} {result.report.records}',
              "# HELP monitoring_last_run_timestamp_seconds When the latest run finished.",
              "# TYPE monitoring_last_run_timestamp_seconds gauge",
              f'monitoring_last_run_timestamp_seconds{{endpoint="{ep}"}} '
              f'{(when or dt.datetime.now(dt.timezone.utc)).timestamp():.0f}']
    return "\n".join(lines) + "\n"


def emit_metrics(result: Any, endpoint_name: str, registry_dir: str | os.PathLike,
                 when: dt.datetime | None = None) -> Path:
    """Write `<registry_dir>/<endpoint>.prom` atomically (a node-exporter textfile collector
    can pick it up; a half-written file would be read as garbage)."""
    out = Path(registry_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{endpoint_name}.prom"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(prometheus_text(result, endpoint_name, when), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cloudwatch_metric_data(result: Any, endpoint: str, schedule_name: str | None = None,
                           when: dt.datetime | None = None) -> list[dict[str, Any]]:
    """PutMetricData `MetricData` for the AWS path (namespace METRIC_NAMESPACE); sent by the
    caller: cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=...)."""
    dims = [{"Name": "Endpoint", "Value": endpoint},
            {"Name": "MonitoringSchedule", "Value": schedule_name or f"{endpoint}-monitor"}]
    stamp = when or dt.datetime.now(dt.timezone.utc)
    data = [{"MetricName": f"feature_baseline_drift_{feature}", "Dimensions": dims,
             "Timestamp": stamp, "Value": distance, "Unit": "None"}
            for feature, distance in sorted(feature_distances(result).items())]
    data.append({"MetricName": "constraint_violations", "Dimensions": dims, "Timestamp": stamp,
                 "Value": float(len(result.violations)), "Unit": "Count"})
    return data
