"""The monitoring page's data: Model Monitor runs for one endpoint (violations per feature,
baseline vs current distributions), violations over time, the drift metrics the DriftCheck
pipeline published, the CloudWatch alarms with their state history, and the pipeline
executions the drift rule started.

Reads Model Monitor's own output layout (`<reports>/<endpoint>/yyyy/mm/dd/hh/`:
statistics.json, constraint_violations.json), the published baseline
(`ml-gateway/baseline/statistics.json`), CloudWatch ListMetrics / GetMetricData (the
`feature_baseline_drift_<feature>` metrics, by the names and dimensions processing/drift_metrics.py
gives them: the drift against the baseline the endpoint is judged by now, and the
`MonitoringSchedule` dimension processing/drift_schedule.py gives the endpoint's schedule),
DescribeAlarms / DescribeAlarmHistory, EventBridge ListRules and SageMaker ListPipelineExecutions — all through boto3.
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-results.html
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html

The page opens on a monitored endpoint (one with a drift-check schedule or a drift alarm), the
newest first; `?endpoint=NAME` picks another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from mlgw.studio import charts
from mlgw.studio.backend import Backend, optional
from pipelines.ml_gateway.locations import monitoring_baseline_uri
from processing import drift_metrics as metrics
from processing import drift_schedule

RUNS_SHOWN = 48
PLOTS = 6
METRIC_CHARTS = 4  # drift metrics drawn: the alarmed features first, then the largest drift
METRIC_DAYS = 7


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


def _alarmed_endpoint(alarm: dict, namespace: str) -> str | None:
    """The endpoint a drift alarm watches (its `Endpoint` dimension), if it watches one."""
    if alarm.get("Namespace") != namespace:
        return None
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d.get("Name") == "Endpoint"), None)


def monitored(endpoints: list[str], rules: list[dict], alarms: list[dict], namespace: str) -> list[str]:
    """The endpoints with monitoring, in `endpoints`' order (then those monitored but no longer
    listed): a drift-check schedule (the scheduled rule `<endpoint>-drift-check`) or an alarm
    on the endpoint's Model Monitor metrics."""
    scheduled = {r["Name"] for r in rules}
    alarmed = {name for name in (_alarmed_endpoint(a, namespace) for a in alarms) if name}
    out = [e for e in endpoints if drift_schedule.rule_name(e) in scheduled or e in alarmed]
    suffix = drift_schedule.RULE_SUFFIX
    gone = {r[: -len(suffix)] for r in scheduled if r.endswith(suffix)} | alarmed
    return out + sorted(gone - set(endpoints))


def _current_baseline(backend: Backend, endpoint: str, alarms: list[dict]) -> str:
    """The Baseline dimension of the drift the endpoint is judged by now: its monitored package's
    (processing/drift_metrics.baseline_id), else the one its drift alarm watches."""
    package, _ = optional(backend.monitored_package, endpoint)
    if package:
        try:
            return metrics.baseline_id(package)
        except ValueError:
            pass
    watched = [
        metrics.baseline_of(a.get("Dimensions", []))
        for a in alarms
        if _alarmed_endpoint(a, metrics.METRIC_NAMESPACE) == endpoint
    ]
    return next((b for b in watched if b), metrics.NO_BASELINE)


def drift_metrics(backend: Backend, endpoint: str, alarms: list[dict]) -> dict[str, Any]:
    """The `feature_baseline_drift_<feature>` series the endpoint's DriftCheck published over the
    last METRIC_DAYS days, measured against the baseline the endpoint is judged by now (the
    Baseline dimension, processing/drift_metrics.py): {"metric_svgs": [...], "metric_latest":
    [{feature, value, time, threshold}], "metric_error": str | None, "metric_where":
    "namespace / dimensions (and the earlier baselines with series of their own)"}."""
    from processing.drift_metrics import BASELINE_DIMENSION, DRIFT_METRIC_PREFIX, METRIC_NAMESPACE, dimensions

    schedule = drift_schedule.schedule_name(endpoint)
    baseline = _current_baseline(backend, endpoint, alarms)
    dims = dimensions(endpoint, schedule, baseline)
    where = dims[:2]
    older, _ = optional(backend.dimension_values, METRIC_NAMESPACE, where, BASELINE_DIMENSION)
    older = [b for b in older or [] if b != baseline]
    out: dict[str, Any] = {
        "metric_svgs": [],
        "metric_latest": [],
        "metric_error": None,
        "metric_where": f"{METRIC_NAMESPACE}, Endpoint={endpoint}, MonitoringSchedule={schedule}, "
        f"{BASELINE_DIMENSION}={baseline}"
        + (f"; earlier baselines with drift series: {', '.join(older)}" if older else ""),
    }
    names, out["metric_error"] = optional(backend.metric_names, METRIC_NAMESPACE, dims)
    drift = [n for n in names or [] if n.startswith(DRIFT_METRIC_PREFIX)]
    if not drift:
        return out
    now = dt.datetime.now(dt.timezone.utc)
    series, out["metric_error"] = optional(
        backend.metric_series, METRIC_NAMESPACE, drift, dims, now - dt.timedelta(days=METRIC_DAYS), now
    )
    thresholds = {
        a["MetricName"]: a.get("Threshold")
        for a in alarms
        if a.get("Namespace") == METRIC_NAMESPACE
        and {(d["Name"], d["Value"]) for d in a.get("Dimensions", [])} == {(d["Name"], d["Value"]) for d in dims}
    }
    latest = []
    for name, points in (series or {}).items():
        if points["Values"]:
            when, value = max(zip(points["Timestamps"], points["Values"]))
            latest.append({"metric": name, "feature": name[len(DRIFT_METRIC_PREFIX) :], "value": value, "time": when})
    for row in latest:
        row["threshold"] = thresholds.get(row["metric"])
    latest.sort(key=lambda r: (r["metric"] not in thresholds, -r["value"]))
    out["metric_latest"] = latest
    for row in latest:
        points = (series or {})[row["metric"]]
        row["points"] = len(points["Values"])
        if row["points"] > 1 and len(out["metric_svgs"]) < METRIC_CHARTS:  # one point: the table says it
            out["metric_svgs"].append(_metric_chart(row["metric"], points, row["threshold"]))
    return out


def _metric_chart(metric: str, points: dict, threshold: float | None) -> str:
    """The series drawn once per content (a page load redraws only what CloudWatch changed)."""
    key = hashlib.sha256(
        json.dumps([metric, points["Timestamps"], points["Values"], threshold], default=str).encode()
    ).hexdigest()
    if key not in _PLOTS:
        if len(_PLOTS) > 512:
            _PLOTS.clear()
        _PLOTS[key] = charts.series(
            f"{metric} (CloudWatch Maximum, {METRIC_DAYS} days)", points["Timestamps"], points["Values"], threshold
        )
    return _PLOTS[key]


def build(backend: Backend, query: Any) -> dict:
    from processing.drift_metrics import METRIC_NAMESPACE

    endpoints, endpoints_error = optional(backend.endpoints)
    names = [e["EndpointName"] for e in endpoints or []]
    alarms, alarms_error = optional(backend.alarms)
    rules, _ = optional(backend.scheduled_rules)
    watched = monitored(names, rules or [], alarms or [], METRIC_NAMESPACE)
    names += [name for name in watched if name not in names]
    endpoint = query.get("endpoint") or (watched[0] if watched else names[0] if names else "")
    bucket = backend.target.bucket
    context: dict[str, Any] = {
        "endpoints": names,
        "monitored": watched,
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
            baseline = backend.read_json(f"{monitoring_baseline_uri(str(bucket))}/statistics.json") or {}
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
        context.update(drift_metrics(backend, endpoint, alarms or []))
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
