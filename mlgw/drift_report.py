"""What `mlgw monitor run` tells the user: which window a drift check read, what it found, and
what followed from it (a drift alarm going to ALARM, the retrain the rule started) — or, with
`--check-only`, what would follow, with nothing published.

The drift loop (README "Monitoring and the drift → retrain loop"): DriftCheck publishes Model
Monitor's metrics; a drift alarm on them going to ALARM puts CloudWatch's `CloudWatch Alarm
State Change` event on the default bus; the retrain rule (mlgw/retrain.py) starts the pipeline,
which deploys a canary. Only a change of state is an event: an alarm already in ALARM starts
nothing (CloudWatch, "Alarm events and EventBridge",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html).

Everything here speaks the AWS APIs (DescribeAlarms, DescribeRule, ListTargetsByRule,
ListPipelineExecutions) and monitoring/drift_check.py's own functions for the check itself.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from mlgw.local_run import JobProgress
from mlgw.monitor_schedule import ALARM_PREFIX, capture_uri
from mlgw.retrain import RULE_NAME
from monitoring.monitor import window_text

WINDOW_FLAG = "--window-minutes N"
_COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class DriftCheckLines(JobProgress):
    """The DriftCheck job's result lines (monitoring/drift_check.py: records and violations in
    the window, or no captured data), read from its local job log while it runs."""

    PREFIXES = ("",)
    _RESULT = re.compile(r"(\d[\d,]* records( \([^)]*\))? in |no captured data )")

    def __init__(self, config):
        super().__init__(config)
        self.no_data = False  # the check found no captured record in its window

    def __call__(self, step: dict) -> list[str]:
        lines = [line for line in super().__call__(step) if self._RESULT.match(line)]
        self.no_data |= any(line.startswith("no captured data ") for line in lines)
        return lines


NO_DATA_HINT = (
    f"send traffic first (`mlgw traffic`, or requests to the endpoint) or check a longer window ({WINDOW_FLAG})"
)


def window_line(endpoint: str, start: dt.datetime, end: dt.datetime, minutes: int) -> str:
    return (
        f"checking {endpoint}'s captured traffic from {window_text(start, end)} (the last "
        f"{minutes} minute{'' if minutes == 1 else 's'}; another window: {WINDOW_FLAG})"
    )


def _retrain_target(sm, events) -> tuple[str | None, str | None]:
    """(the retrain rule's state, the name of the pipeline its target starts); None for what
    does not exist. The target names the pipeline by ARN, which SageMaker writes in lower
    case: DescribePipeline gives the name as created."""
    try:
        rule = events.describe_rule(Name=RULE_NAME)
    except events.exceptions.ResourceNotFoundException:
        return None, None
    targets = events.list_targets_by_rule(Rule=RULE_NAME).get("Targets", [])
    arn = next((t["Arn"] for t in targets if ":pipeline/" in t.get("Arn", "")), None)
    if arn is None:
        return rule.get("State"), None
    try:
        return rule.get("State"), sm.describe_pipeline(PipelineName=arn)["PipelineName"]
    except sm.exceptions.ResourceNotFound:
        return rule.get("State"), None


def _drift_alarms(cloudwatch) -> list[dict[str, Any]]:
    return cloudwatch.describe_alarms(AlarmNamePrefix=ALARM_PREFIX)["MetricAlarms"]


def _executions_since(sm, pipeline: str, since: dt.datetime) -> list[str]:
    try:
        page = sm.list_pipeline_executions(
            PipelineName=pipeline, CreatedAfter=since, SortBy="CreationTime", SortOrder="Ascending"
        )
    except sm.exceptions.ResourceNotFound:
        return []
    return [s["PipelineExecutionArn"] for s in page["PipelineExecutionSummaries"]]


def after_check(
    sm, events, cloudwatch, since: dt.datetime, wait_seconds: float = 30, poll_seconds: float = 0.5
) -> list[str]:
    """What the drift check started: for each drift alarm that entered ALARM at or after
    `since` (the check's start), the pipeline execution the retrain rule started (waited for
    up to `wait_seconds`, EventBridge delivers asynchronously); else why nothing started."""
    alarms = _drift_alarms(cloudwatch)
    if not alarms:
        return ["no drift alarm exists (`mlgw run` creates them): nothing was started"]
    changed_now = [a for a in alarms if a.get("StateUpdatedTimestamp") and a["StateUpdatedTimestamp"] >= since]
    fired = [a for a in changed_now if a["StateValue"] == "ALARM"]
    lines = []
    for alarm in alarms:
        changed = " (changed by this check)" if alarm in changed_now else ""
        lines.append(f"drift alarm {alarm['AlarmName']}: {alarm['StateValue']}{changed}")
    if not fired:
        if any(a["StateValue"] == "ALARM" for a in alarms):
            lines.append(
                "nothing started: an alarm already in ALARM changes no state, so no event reaches the retrain rule"
            )
        else:
            lines.append("no drift alarm went to ALARM: nothing was started")
        return lines
    state, pipeline = _retrain_target(sm, events)
    if state != "ENABLED" or pipeline is None:
        why = (
            "does not exist"
            if state is None
            else f"is {state.lower()}"
            if state != "ENABLED"
            else "targets no existing pipeline"
        )
        lines.append(f"the retrain rule {RULE_NAME} {why}: nothing was started")
        return lines
    deadline = time.monotonic() + wait_seconds
    started = _executions_since(sm, pipeline, since)
    while not started and time.monotonic() < deadline:
        time.sleep(poll_seconds)
        started = _executions_since(sm, pipeline, since)
    if not started:
        lines.append(
            f"the retrain rule {RULE_NAME} matched the alarm's state change, but no "
            f"{pipeline} execution appeared within {wait_seconds:.0f} s: see `mlgw "
            f"events list` and `mlgw pipeline executions`"
        )
        return lines
    for arn in started:
        lines.append(f"the retrain rule {RULE_NAME} started a retrain: {arn}")
    lines.append(
        "it retrains on the current dataset and deploys the new model as a canary; "
        "follow it with `mlgw pipeline describe`, then `mlgw endpoint promote` or "
        "`mlgw endpoint rollback`"
    )
    return lines


def _capture_uri(sm, endpoint: str, bucket: str) -> str:
    """Where the endpoint captures (its config's DataCaptureConfig), else DriftCheck's default."""
    description = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=description["EndpointConfigName"])
    return (config.get("DataCaptureConfig") or {}).get("DestinationS3Uri") or capture_uri(bucket)


def check_only(
    sm,
    s3,
    cloudwatch,
    events,
    *,
    endpoint: str,
    schedule: str,
    bucket: str,
    window_minutes: int,
    now: dt.datetime | None = None,
) -> list[str]:
    """Run DriftCheck's check in this process on [now - window, now) and say what it found and
    what a published check would set off; publish nothing (no metric, no report in S3, no
    alarm change, no event). JobError (processing.job) for a missing endpoint or baseline."""
    from monitoring import drift_check, publish
    from monitoring.monitor import MonitoringError, NoDataError, run_monitoring
    from processing import drift_metrics as metrics
    from processing.job import JobError

    end = now or dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(minutes=window_minutes)
    package, stats_uri, constraints_uri = drift_check.baseline_uris(sm, endpoint)
    capture = _capture_uri(sm, endpoint, bucket)
    lines = [
        "check only: nothing is published (no metrics, no report in S3, no alarm change, no retrain)",
        window_line(endpoint, start, end, window_minutes),
        f"baseline of {package}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        drift_check.download_baseline(s3, stats_uri, constraints_uri, Path(tmp, "baseline"))
        files = drift_check.download_capture(s3, capture, endpoint, start, end, Path(tmp, "capture"))
        try:
            result = run_monitoring(Path(tmp, "capture"), Path(tmp, "baseline"), Path(tmp, "out"), start, end)
        except NoDataError:
            lines.append(
                f"no captured data for {endpoint} in {window_text(start, end)} under "
                f"{capture.rstrip('/')}/{endpoint}/ ({files} capture files)"
            )
            lines.append(NO_DATA_HINT)
            return lines
        except MonitoringError as exc:
            raise JobError(str(exc)) from None
    lines.append(f"{result.report.records} records: {drift_check.violations_text(result.violations)}")
    baseline = metrics.baseline_id(package)
    data = publish.cloudwatch_metric_data(result, endpoint, schedule, baseline, when=end)
    values = {d["MetricName"]: d["Value"] for d in data}
    dims = {(d["Name"], d["Value"]) for d in data[0]["Dimensions"]} if data else set()
    state, pipeline = _retrain_target(sm, events)
    for alarm in _drift_alarms(cloudwatch):
        value = values.get(alarm["MetricName"])
        compare = _COMPARE.get(alarm.get("ComparisonOperator", ""))
        if value is None or compare is None:
            continue
        if {(d["Name"], d["Value"]) for d in alarm.get("Dimensions") or []} != dims:
            watched = metrics.baseline_of(alarm.get("Dimensions") or []) or "no baseline"
            lines.append(
                f"{alarm['AlarmName']} watches the drift measured against {watched}, not this check's "
                f"({baseline}): publishing would not change it (a deploy re-points it)"
            )
            continue
        breach = compare(value, alarm["Threshold"])
        what = (
            f"{alarm['MetricName']} {value:.4g} "
            f"{'breaches' if breach else 'is within'} threshold {alarm['Threshold']:g}"
        )
        if not breach:
            lines.append(f"{what}: {alarm['AlarmName']} would not go to ALARM")
        elif alarm["StateValue"] == "ALARM":
            lines.append(f"{what}: {alarm['AlarmName']} is already in ALARM, so publishing would start nothing")
        elif state == "ENABLED" and pipeline:
            lines.append(
                f"{what}: publishing (`mlgw monitor run` without --check-only) would "
                f"put {alarm['AlarmName']} in ALARM and the retrain rule {RULE_NAME} "
                f"would start {pipeline} (retrain and canary deploy)"
            )
        else:
            lines.append(
                f"{what}: publishing would put {alarm['AlarmName']} in ALARM; the "
                f"retrain rule {RULE_NAME} is not enabled, so nothing would start"
            )
    return lines
