"""The monitoring page's data: Model Monitor runs for one endpoint (violations per feature,
baseline vs current distributions), violations over time, the CloudWatch alarms with their state
history, and the pipeline executions the drift rule started.

Reads Model Monitor's own output layout (`<reports>/<endpoint>/yyyy/mm/dd/hh/`:
statistics.json, constraint_violations.json), the published baseline
(`ml-gateway/baseline/statistics.json`), CloudWatch DescribeAlarms / DescribeAlarmHistory and
SageMaker ListPipelineExecutions — all through boto3.
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-results.html
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from mlgw.studio import charts
from mlgw.studio.backend import BASELINE_PREFIX, DRIFT_NAMESPACE, Backend, optional

RUNS_SHOWN = 48
PLOTS = 6


_PLOTS: dict[str, str] = {}  # a run's report never changes: draw each plot once


def _distribution(name: str, baseline: dict | None, current: dict | None) -> str:
    key = hashlib.sha256(json.dumps([name, baseline, current], sort_keys=True).encode()).hexdigest()
    if key not in _PLOTS:
        if len(_PLOTS) > 512:
            _PLOTS.clear()
        _PLOTS[key] = charts.distribution(name, baseline, current)
    return _PLOTS[key]


def _run_time(prefix: str) -> dt.datetime | None:
    parts = prefix.split("/")
    for i in range(len(parts) - 3):
        try:
            return dt.datetime(
                int(parts[i]), int(parts[i + 1]), int(parts[i + 2]), int(parts[i + 3]), tzinfo=dt.timezone.utc
            )
        except ValueError:
            continue
    return None


def build(backend: Backend, query: Any) -> dict:
    endpoints, endpoints_error = optional(backend.endpoints)
    names = [e["EndpointName"] for e in endpoints or []]
    endpoint = query.get("endpoint") or (names[0] if names else "")
    bucket = backend.target.bucket
    context: dict[str, Any] = {
        "endpoints": names,
        "endpoint": endpoint,
        "endpoints_error": endpoints_error,
        "bucket": bucket,
        "runs": [],
        "selected": None,
        "violations": [],
        "plots": [],
        "trend_svg": None,
    }
    if endpoint:
        runs, runs_error = optional(backend.drift_reports, endpoint)
        runs = (runs or [])[:RUNS_SHOWN]
        context["runs_error"] = runs_error
        for run in runs:
            run["time"] = _run_time(run["prefix"])
            run["violations"] = None
        selected = next((r for r in runs if r["prefix"] == query.get("run")), runs[0] if runs else None)
        # Violations over time: one small JSON per run, newest RUNS_SHOWN runs.
        counts = []
        for run in runs:
            if "constraint_violations.json" in run["files"]:
                doc = backend.read_json(f"s3://{bucket}/{run['prefix']}/constraint_violations.json") or {}
                run["violations"] = doc.get("violations", [])
                if run["time"]:
                    counts.append((run["time"], len(run["violations"])))
            else:
                run["violations"] = []
                if run["time"]:
                    counts.append((run["time"], 0))
        if len(counts) > 1:
            context["trend_svg"] = charts.series(
                "constraint violations per monitoring run", [t for t, _ in counts], [c for _, c in counts]
            )
        context["runs"] = runs
        if selected:
            context["selected"] = selected
            context["violations"] = selected["violations"] or []
            current = backend.read_json(f"s3://{bucket}/{selected['prefix']}/statistics.json") or {}
            baseline = backend.read_json(f"s3://{bucket}/{BASELINE_PREFIX}/statistics.json") or {}
            by_name = {f["name"]: f for f in baseline.get("features", [])}
            flagged = [v["feature_name"] for v in context["violations"]]
            ordered = flagged + [f["name"] for f in current.get("features", []) if f["name"] not in flagged]
            seen = set()
            for name in ordered:
                if name in seen or len(context["plots"]) >= PLOTS:
                    continue
                seen.add(name)
                feature = next((f for f in current.get("features", []) if f["name"] == name), None)
                if feature or name in by_name:
                    context["plots"].append(_distribution(name, by_name.get(name), feature))
    if endpoint:
        # The drift metric the monitoring job publishes (monitoring/publish.py), where CloudWatch has it.
        now = dt.datetime.now(dt.timezone.utc)
        dims = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": f"{endpoint}-monitor"}]
        series, context["metric_error"] = optional(
            backend.metric_series, DRIFT_NAMESPACE, "constraint_violations", dims, now - dt.timedelta(days=7), now
        )
        if series and series.get("Values"):
            context["metric_svg"] = charts.series(
                f"{DRIFT_NAMESPACE} constraint_violations (CloudWatch, 7 days)", series["Timestamps"], series["Values"]
            )
    alarms, alarms_error = optional(backend.alarms)
    context["alarms_error"] = alarms_error
    context["alarms"] = []
    for alarm in alarms or []:
        history, _ = optional(backend.alarm_history, alarm["AlarmName"])
        context["alarms"].append({**alarm, "history": history or []})
    retrains = []
    pipelines, _ = optional(backend.pipelines)
    for summary in pipelines or []:
        executions, _ = optional(backend.executions, summary["PipelineName"])
        for execution in (executions or ([], None))[0]:
            if (execution.get("PipelineExecutionDescription") or "").startswith("EventBridge event"):
                retrains.append({**execution, "PipelineName": summary["PipelineName"]})
    context["retrains"] = retrains
    return context
